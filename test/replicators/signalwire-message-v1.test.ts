import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signSignalWireRequest } from '../../src/simulators/signalwire.ts';
import { setUpChannel, SUPPORT, CUSTOMER, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
let setup: ChannelSetup;

beforeEach(async () => {
  setup = await setUpChannel(database());
});
afterEach(() => setup.close());

const swRows = async () =>
  (await sql<Record<string, any>>`SELECT * FROM signalwire_message_v1 WHERE integration_id = ${setup.sw.id} ORDER BY pk`.execute(setup.engine.db)).rows;
const hookUrl = () => `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`;

async function postForm(params: [string, string][], headers: Record<string, string>) {
  return fetch(hookUrl(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(params).toString() });
}

describe('signalwire_message_v1 webhooks', () => {
  it('stores a signed inbound message and answers 200 <Response></Response> as text/xml', async () => {
    const { message, status, body } = await setup.signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body: 'hello' }, hookUrl());
    expect(status).toBe(200);
    expect(body).toBe('<Response></Response>');
    const [row] = await swRows();
    expect(row).toMatchObject({ signalwire_id: message.sid, direction: 'inbound', from: CUSTOMER, to: SUPPORT, status: 'received' });
    expect(row!.data).toMatchObject({ sid: message.sid, body: 'hello', webhook_params: { MessageSid: message.sid } });
  });

  it('refuses a missing or wrong signature with 401 and accepts X-Twilio-Signature alone', async () => {
    const params: [string, string][] = [
      ['MessageSid', `SM${'0'.repeat(31)}1`],
      ['From', CUSTOMER],
      ['To', SUPPORT],
      ['Body', 'hi'],
      ['SmsStatus', 'received'],
    ];
    expect((await postForm(params, {})).status).toBe(401);
    expect((await postForm(params, { 'x-signalwire-signature': signSignalWireRequest('wrong', hookUrl(), params) })).status).toBe(401);
    const twilio = await postForm(params, { 'x-twilio-signature': signSignalWireRequest(setup.signalwire.signingKey, hookUrl(), params) });
    expect(twilio.status).toBe(200);
    expect(twilio.headers.get('content-type')).toMatch(/text\/xml/);
    expect((await swRows()).map((r) => r.signalwire_id)).toEqual([`SM${'0'.repeat(31)}1`]);
  });

  it('answers 422 for a signed body without MessageSid', async () => {
    const params: [string, string][] = [['From', CUSTOMER]];
    const response = await postForm(params, { 'x-signalwire-signature': signSignalWireRequest(setup.signalwire.signingKey, hookUrl(), params) });
    expect(response.status).toBe(422);
  });

  it('moves status forward on callbacks, never back, and lets newer API data complete the row', async () => {
    const sent = setup.signalwire.addMessage({ from: SUPPORT, to: CUSTOMER, body: 'out', direction: 'outbound-api', status: 'sent' });
    await setup.pass(setup.sw);
    expect((await swRows())[0]).toMatchObject({ status: 'sent' });

    await setup.signalwire.setStatus(sent.sid, 'delivered', { callbackUrl: hookUrl() });
    expect((await swRows())[0]).toMatchObject({ status: 'delivered' });
    // A late 'sent' callback does not undo 'delivered'.
    await setup.signalwire.setStatus(sent.sid, 'sent', { callbackUrl: hookUrl() });
    expect((await swRows())[0]).toMatchObject({ status: 'delivered' });

    // Put the simulator back to delivered; the next poll's API data replaces the webhook's partial data.
    await setup.signalwire.setStatus(sent.sid, 'delivered');
    await setup.pass(setup.sw);
    const [row] = await swRows();
    expect(row).toMatchObject({ status: 'delivered', direction: 'outbound-api' });
    expect(row!.data.webhook_params).toBeUndefined();
    expect(row!.data.price_unit).toBe('USD');
  });
});

describe('signalwire_message_v1 polling', () => {
  it('pages through Messages.json with PageSize and a DateSent filter, following next_page_uri', async () => {
    for (let i = 0; i < 250; i++) {
      setup.signalwire.addMessage({ from: CUSTOMER, to: SUPPORT, body: `m${i}`, dateCreated: new Date(Date.now() - (250 - i) * 1000) });
    }
    const outcome = await setup.pass(setup.sw);
    expect(outcome).toMatchObject({ status: 'succeeded', rowsProcessed: 250 });
    expect(await swRows()).toHaveLength(250);
    const lists = setup.signalwire.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/Messages.json'));
    expect(lists).toHaveLength(3);
    const until = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
    expect(lists[0]!.query).toMatchObject({ PageSize: '100', 'DateSent<': until });
    expect(lists[0]!.headers.authorization).toBe(`Basic ${Buffer.from(`${setup.signalwire.projectId}:${setup.signalwire.apiToken}`).toString('base64')}`);
    expect(lists[0]!.path).toBe(`/api/laml/2010-04-01/Accounts/${setup.signalwire.projectId}/Messages.json`);
  });

  it('stops an incremental pass at the first page older than the last pass', async () => {
    for (let i = 0; i < 250; i++) {
      setup.signalwire.addMessage({ from: CUSTOMER, to: SUPPORT, body: `old${i}`, dateCreated: new Date(Date.now() - 3_600_000 - i * 1000) });
    }
    await setup.pass(setup.sw, { incremental: true });
    const before = setup.signalwire.requests.length;
    setup.signalwire.addMessage({ from: CUSTOMER, to: SUPPORT, body: 'new' });
    await setup.pass(setup.sw, { incremental: true });
    expect(setup.signalwire.requests.length - before).toBe(1);
    expect((await swRows()).some((r) => r.data.body === 'new')).toBe(true);
  });

  it('shows rejected credentials as the integration error, without a retry', async () => {
    await database().db.updateTable('service_integrations').set({ backfill_secret: 'wrong' }).where('id', '=', setup.sw.id).execute();
    const outcome = await setup.pass(setup.sw);
    expect(outcome).toMatchObject({ status: 'failed', retryable: false });
    expect(await setup.reload(setup.sw)).toMatchObject({ last_error_code: 'SB_ERR_PROVIDER_AUTH' });
  });

  it('shows an unreachable space as the integration error, without a retry', async () => {
    await database().db.updateTable('service_integrations').set({ api_url: 'https://no-such-space.invalid' }).where('id', '=', setup.sw.id).execute();
    const outcome = await setup.pass(setup.sw);
    expect(outcome).toMatchObject({ status: 'failed', retryable: false });
    expect((await setup.reload(setup.sw)).last_error_message).toMatch(/cannot be resolved/);
  });

  it('retries server errors', async () => {
    setup.signalwire.faults.script.push({ kind: 'status', status: 503 });
    expect(await setup.pass(setup.sw)).toMatchObject({ status: 'failed', retryable: true });
    expect(await setup.pass(setup.sw)).toMatchObject({ status: 'succeeded' });
  });
});
