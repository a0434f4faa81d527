import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { queuedJobs } from '../helpers/jobs.ts';
import { CHANNEL_ID, CUSTOMER, CUSTOMER_2, setUpChannel, SUPPORT, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { runCli } from '../helpers/cli.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { signFrontRequest } from '../../src/simulators/front.ts';

const database = useTestDatabase();
let setup: ChannelSetup;

beforeEach(async () => {
  setup = await setUpChannel(database());
});
afterEach(() => setup.close());

const errorOf = (response: { json(): unknown }) => (response.json() as { error: { code: string; message: string } }).error;

describe('front_signalwire_message_channel_app_v1 setup', () => {
  it('prints the API key once at create and setup steps in info', async () => {
    expect(setup.apiKey).toMatch(/^sk\/svi_[0-9a-z]+\/[0-9a-z]+$/);
    const info = await runCli(database().url, ['integrations', 'info', String(setup.channel.id), '--json'], {
      env: { PUBLIC_URL: setup.publicUrl },
      registry: defaultRegistry(),
    });
    expect(info.json()).toMatchObject({ service: 'front_signalwire_message_channel_app_v1', api_url: SUPPORT, webhook_url: `${setup.publicUrl}/v1/install/front_signalwire/channel` });
    expect(info.json().api_key).toBeUndefined();
    expect(info.json().setup).toMatch(/^Almost there! You can now finish installing the SignalWire Channel in Front\./);
  });

  it('refuses a phone that is not a number, and normalises national numbers with --region', async () => {
    const cli = (...args: string[]) => runCli(database().url, args, { env: { PUBLIC_URL: setup.publicUrl }, registry: defaultRegistry() });
    const bad = await cli('integrations', 'create', 'front_signalwire_message_channel_app_v1', '--depends-on', String(setup.sw.id), '--phone', 'not-a-phone');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--phone: "not-a-phone" is not a phone number/);
    const kenya = await cli('integrations', 'create', 'front_signalwire_message_channel_app_v1', '--depends-on', String(setup.sw.id), '--phone', '0712 345678', '--region', 'ke', '--json');
    expect(kenya.json()).toMatchObject({ api_url: '+254712345678', settings: { region: 'KE' } });
  });
});

describe('POST /v1/install/front_signalwire/channel: checks in order', () => {
  it('400 for a missing or unknown type, before looking at credentials', async () => {
    const missing = await setup.frontClient.raw({ body: { payload: {} }, apiKey: null, sign: false });
    expect(missing.status).toBe(400);
    expect(errorOf(missing).code).toBe('SB_ERR_BAD_REQUEST');
    expect((await setup.frontClient.raw({ body: { type: 'bogus' }, apiKey: null })).status).toBe(400);
    expect((await setup.frontClient.raw({ body: 'not json', apiKey: null })).status).toBe(400);
  });

  it('400 for a DELETE that is not a delete (its signature may cover nothing of the body)', async () => {
    const ts = String(Date.now());
    const response = await setup.frontClient.raw({
      method: 'DELETE',
      body: { type: 'message', payload: { id: 'msg_evil', text: 'x', recipients: [{ handle: CUSTOMER, role: 'to' }] } },
      timestamp: ts,
      sign: false,
      headers: { 'x-front-signature': signFrontRequest(setup.front.appSecret, ts, 'undefined') },
    });
    expect(response.status).toBe(400);
    expect(await setup.rows()).toEqual([]);
  });

  it('401 for a missing, non-Bearer or unknown API key', async () => {
    const body = { type: 'authorization', payload: { channel_id: CHANNEL_ID } };
    expect(errorOf(await setup.frontClient.raw({ body, apiKey: null })).message).toBe('Missing Authorization header');
    expect(errorOf(await setup.frontClient.raw({ body, headers: { authorization: `Basic ${setup.apiKey}` } })).message).toBe('Expected Bearer authorization');
    const unknown = await setup.frontClient.raw({ body, apiKey: 'sk/svi_nope/123' });
    expect(unknown.status).toBe(401);
    expect(errorOf(unknown).message).toBe('Invalid API key');
  });

  it('401 for a missing, wrong or stale signature; seconds and milliseconds timestamps both work', async () => {
    const body = { type: 'message_imported', payload: {} };
    expect(errorOf(await setup.frontClient.raw({ body, sign: false })).message).toBe('missing signature');
    expect(errorOf(await setup.frontClient.raw({ body, secret: 'wrong' })).message).toBe('invalid signature');
    const stale = String(Date.now() - 6 * 60_000);
    expect(errorOf(await setup.frontClient.raw({ body, timestamp: stale })).message).toBe('stale timestamp');
    expect((await setup.frontClient.raw({ body, timestamp: String(Math.floor(Date.now() / 1000)) })).status).toBe(200);
    expect((await setup.frontClient.raw({ body })).status).toBe(200);
  });

  it('logs rejected requests with their reason', async () => {
    await setup.frontClient.raw({ body: { type: 'message_imported' }, secret: 'wrong' });
    await new Promise((r) => setTimeout(r, 400));
    const logged = await database().db.selectFrom('webhook_log').select(['status', 'reason', 'integration_id', 'route']).execute();
    expect(logged).toContainEqual({ status: 401, reason: 'invalid signature', integration_id: setup.channel.id, route: '/v1/install/front_signalwire/channel' });
  });
});

describe('channel requests', () => {
  it('authorization stores the channel id and answers with our webhook URL', async () => {
    const response = await setup.frontClient.authorize(CHANNEL_ID);
    expect(response.status).toBe(200);
    expect(response.text).toBe(`{"type":"success","webhook_url":"${setup.publicUrl}/v1/install/front_signalwire/channel"}`);
    expect((await setup.reload(setup.channel)).backfill_key).toBe(CHANNEL_ID);
  });

  it('message: one row per `to` recipient, ids joined in the answer', async () => {
    const response = await setup.frontClient.message({ id: 'msg_abc', channelId: CHANNEL_ID, text: 'hello both', to: [CUSTOMER, '+1 (555) 000-3333'], cc: ['+15550009999'] });
    expect(response.status).toBe(200);
    expect(response.text).toBe(
      `{"type":"success","external_id":"msg_abc-${CUSTOMER},msg_abc-${CUSTOMER_2}","external_conversation_id":"${CUSTOMER},${CUSTOMER_2}"}`,
    );
    const rows = await setup.rows();
    expect(rows.map((r) => [r.external_id, r.front_message_id, r.signalwire_sid, r.direction, r.body, r.sender, r.recipient, r.external_conversation_id, r.delivery_status])).toEqual([
      [`msg_abc-${CUSTOMER}`, 'msg_abc', null, 'outbound', 'hello both', SUPPORT, CUSTOMER, CUSTOMER, 'pending'],
      [`msg_abc-${CUSTOMER_2}`, 'msg_abc', null, 'outbound', 'hello both', SUPPORT, CUSTOMER_2, CUSTOMER_2, 'pending'],
    ]);
    expect(rows[0]!.data).toMatchObject({ type: 'message', payload: { id: 'msg_abc' }, front_message_id: 'msg_abc', recipient: CUSTOMER });
    expect(await queuedJobs(database().db)).toMatchObject([{ key: `backfill:${setup.channel.id}` }]);
  });

  it('a retried message changes nothing and queues no new pass', async () => {
    // Front retries with the very same body.
    const body = { type: 'message', payload: { id: 'msg_retry', text: 'once', created_at: Date.now() / 1000, recipients: [{ handle: CUSTOMER, role: 'to' }] } };
    await setup.frontClient.raw({ body });
    await sql`DELETE FROM graphile_worker._private_jobs`.execute(database().db);
    const again = await setup.frontClient.raw({ body });
    expect(again.status).toBe(200);
    expect(again.json()).toMatchObject({ external_id: `msg_retry-${CUSTOMER}` });
    expect(await queuedJobs(database().db)).toEqual([]);
    expect(await setup.rows()).toHaveLength(1);
  });

  it('message_autoreply: ids from the replied-to message', async () => {
    const response = await setup.frontClient.autoreply({ channelId: CHANNEL_ID, repliedToId: 'msg_in1', text: 'We are closed', to: [CUSTOMER] });
    expect(response.json()).toEqual({ type: 'success', external_id: `msg_in1_autoreply-${CUSTOMER}`, external_conversation_id: CUSTOMER });
  });

  it('422 when there is no `to` recipient or it is not a phone number', async () => {
    const none = await setup.frontClient.message({ id: 'msg_x', channelId: CHANNEL_ID, text: 'x', to: [], cc: [CUSTOMER] });
    expect(none.status).toBe(422);
    expect(errorOf(none).message).toBe('no recipient found');
    const email = await setup.frontClient.message({ id: 'msg_y', channelId: CHANNEL_ID, text: 'x', to: ['someone@example.com'] });
    expect(email.status).toBe(422);
    expect(await setup.rows()).toEqual([]);
  });

  it('message_imported answers {}', async () => {
    const response = await setup.frontClient.raw({ body: { type: 'message_imported', payload: { id: 'msg_1' } } });
    expect(response.text).toBe('{}');
  });

  it('delete removes the channel integration and its rows, not the SignalWire one', async () => {
    await setup.frontClient.message({ id: 'msg_del', channelId: CHANNEL_ID, text: 'bye', to: [CUSTOMER] });
    const response = await setup.frontClient.delete(CHANNEL_ID);
    expect(response.status).toBe(200);
    expect(response.text).toBe('{}');
    const left = await database().db.selectFrom('service_integrations').select('service_name').execute();
    expect(left).toEqual([{ service_name: 'signalwire_message_v1' }]);
    expect(await setup.rows()).toEqual([]);
  });
});
