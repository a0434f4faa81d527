import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { CHANNEL_ID, CUSTOMER, CUSTOMER_2, setUpChannel, SUPPORT, type ChannelSetup } from '../helpers/channel.ts';
import { ingestRounds } from '../../src/engine/ingest.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
let setup: ChannelSetup;

async function connected(env: Record<string, string> = {}) {
  setup = await setUpChannel(database(), env);
  await setup.frontClient.authorize(CHANNEL_ID);
  setup.channel = await setup.reload(setup.channel);
  return setup;
}
afterEach(() => setup.close());

const hookUrl = () => `${setup.publicUrl}/v1/service_integrations/${setup.sw.opaque_id}`;
/** Make rows that are backing off due now, instead of waiting for their delay (and the provider's Retry-After, which holds every send). */
const dueNow = async () => {
  await sql`UPDATE front_signalwire_message_channel_app_v1 SET next_attempt_at = now()`.execute(database().db);
  await sql`DELETE FROM provider_send_slots`.execute(database().db);
};

/** A Front message to CUSTOMER whose send goes out but whose response is lost (the row stays pending, without its sid). */
const lostSend = async (id: string, text: string) => {
  setup.signalwire.faults.script.push({ kind: 'lost-response' });
  await setup.frontClient.message({ id, channelId: CHANNEL_ID, text, to: [CUSTOMER] });
  await setup.pass(setup.channel);
};

describe('Front → SMS', () => {
  it('sends one SMS per recipient, signed with Basic auth and a status callback, and writes the sids back', async () => {
    await connected();
    await setup.frontClient.message({ id: 'msg_two', channelId: CHANNEL_ID, text: 'Hi there', to: [CUSTOMER, CUSTOMER_2] });
    expect(await setup.pass(setup.channel)).toMatchObject({ status: 'succeeded', rowsProcessed: 2 });
    const sent = setup.signalwire.sent();
    expect(sent.map((m) => [m.from, m.to, m.body])).toEqual([
      [SUPPORT, CUSTOMER, 'Hi there'],
      [SUPPORT, CUSTOMER_2, 'Hi there'],
    ]);
    const post = setup.signalwire.requests.find((r) => r.method === 'POST')!;
    expect(post.path).toBe(`/api/laml/2010-04-01/Accounts/${setup.signalwire.projectId}/Messages.json`);
    expect(post.form).toEqual([
      ['From', SUPPORT],
      ['To', CUSTOMER],
      ['Body', 'Hi there'],
      ['StatusCallback', hookUrl()],
    ]);
    expect(post.headers.authorization).toBe(`Basic ${Buffer.from(`${setup.signalwire.projectId}:${setup.signalwire.apiToken}`).toString('base64')}`);
    expect((await setup.rows()).map((r) => [r.signalwire_sid, r.delivery_status])).toEqual(sent.map((m) => [m.sid, 'delivered']));

    // Converged: another pass sends nothing, and polling our own sends imports nothing.
    await setup.pass(setup.channel);
    await setup.pass(setup.sw);
    await setup.pass(setup.channel);
    expect(setup.signalwire.sent()).toHaveLength(2);
    expect(setup.front.inbox).toHaveLength(0);
    expect(await setup.rows()).toHaveLength(2);
  });

  it('skips messages older than 48 hours, and recipients outside the allowlist', async () => {
    await connected({ SIGNALWIRE_SMS_ALLOWLIST: '+1555000222?' });
    await setup.frontClient.message({ id: 'msg_old', channelId: CHANNEL_ID, text: 'late', to: [CUSTOMER], createdAt: Date.now() / 1000 - 49 * 3600 });
    await setup.frontClient.message({ id: 'msg_new', channelId: CHANNEL_ID, text: 'now', to: [CUSTOMER, CUSTOMER_2] });
    await setup.pass(setup.channel);
    expect(setup.signalwire.sent().map((m) => m.to)).toEqual([CUSTOMER]);
    const rows = await setup.rows();
    expect(rows.map((r) => [r.external_id, r.signalwire_sid, r.delivery_status])).toEqual([
      [`msg_old-${CUSTOMER}`, 'skipped_due_to_age', 'skipped'],
      [`msg_new-${CUSTOMER}`, setup.signalwire.sent()[0]!.sid, 'delivered'],
      [`msg_new-${CUSTOMER_2}`, 'skipped', 'skipped'],
    ]);
  });

  it('marks a coded SignalWire error failed with its code, without retrying, and delivers the other rows', async () => {
    await connected();
    setup.signalwire.faults.script.push({
      kind: 'status',
      status: 422,
      body: { code: 21717, message: 'From must belong to an active campaign.', status: 422 },
    });
    await setup.frontClient.message({ id: 'msg_c', channelId: CHANNEL_ID, text: 'campaign', to: [CUSTOMER, CUSTOMER_2] });
    await setup.pass(setup.channel);
    await dueNow();
    await setup.pass(setup.channel);
    // The two recipients are sent side by side: whichever went first met the error.
    const rows = (await setup.rows()).sort((a, b) => a.delivery_status.localeCompare(b.delivery_status));
    expect(rows.map((r) => [r.delivery_status, r.delivery_error_code])).toEqual([
      ['delivered', null],
      ['failed', '21717'],
    ]);
    expect(rows.map((r) => r.recipient).sort()).toEqual([CUSTOMER, CUSTOMER_2]);
    expect(rows[1]!.delivery_error_message).toMatch(/From must belong to an active campaign/);
    expect(setup.signalwire.requests.filter((r) => r.method === 'POST')).toHaveLength(2);
  });

  it('backs off on 429, honouring Retry-After, then sends once', async () => {
    await connected();
    setup.signalwire.faults.script.push({ kind: 'status', status: 429, headers: { 'retry-after': '30' }, body: { code: 20429, message: 'Too Many Requests' } });
    await setup.frontClient.message({ id: 'msg_r', channelId: CHANNEL_ID, text: 'retry me', to: [CUSTOMER] });
    await sql`DELETE FROM graphile_worker._private_jobs`.execute(database().db);
    await setup.pass(setup.channel);
    const [waiting] = await setup.rows();
    expect(waiting).toMatchObject({ delivery_status: 'pending', delivery_attempts: 1 });
    expect(waiting!.next_attempt_at.getTime() - Date.now()).toBeGreaterThan(25_000);
    // The pass queued its own follow-up for when the row is due.
    const { rows: jobs } = await sql<{ delay: number }>`
      SELECT extract(epoch FROM run_at - now())::float8 AS delay FROM graphile_worker.jobs WHERE key = ${`backfill:${setup.channel.id}`}`.execute(database().db);
    expect(jobs[0]!.delay).toBeGreaterThan(25);
    await setup.pass(setup.channel);
    expect(setup.signalwire.sent()).toHaveLength(0);
    await dueNow();
    await setup.pass(setup.channel);
    expect(setup.signalwire.sent()).toHaveLength(1);
    expect((await setup.rows())[0]).toMatchObject({ delivery_status: 'delivered' });
  });

  it('never sends twice when the response to a send was lost: the next attempt finds and adopts it', async () => {
    await connected();
    await lostSend('msg_lost', 'did it go?');
    expect(setup.signalwire.sent()).toHaveLength(1);
    expect((await setup.rows())[0]).toMatchObject({ delivery_status: 'pending', signalwire_sid: null });
    await dueNow();
    await setup.pass(setup.channel);
    expect(setup.signalwire.sent()).toHaveLength(1);
    expect((await setup.rows())[0]).toMatchObject({ delivery_status: 'delivered', signalwire_sid: setup.signalwire.sent()[0]!.sid });
  });

  it('when the lost send shows up in a poll first, it is matched to its row, not imported as a new message', async () => {
    await connected();
    await lostSend('msg_poll', 'polled');
    setup.signalwire.faults.script.length = 0;
    await setup.pass(setup.sw);
    await dueNow();
    await setup.pass(setup.channel);
    expect(setup.front.inbox).toHaveLength(0);
    expect(setup.signalwire.sent()).toHaveLength(1);
    expect(await setup.rows()).toMatchObject([{ delivery_status: 'delivered', signalwire_sid: setup.signalwire.sent()[0]!.sid }]);
  });

  it('a lost send that then fails is noticed once and never resent', async () => {
    await connected();
    await lostSend('msg_lf', 'lost then failed');
    const [sent] = setup.signalwire.sent();
    await setup.signalwire.setStatus(sent!.sid, 'failed', { errorCode: '30008', errorMessage: 'Unknown error', callbackUrl: hookUrl() });
    await dueNow();
    await setup.pass(setup.channel);
    await setup.pass(setup.sw);
    await setup.pass(setup.channel);
    expect(setup.signalwire.sent()).toHaveLength(1);
    expect((await setup.rows()).find((r) => r.front_message_id === 'msg_lf')).toMatchObject({ delivery_status: 'delivered', signalwire_sid: sent!.sid });
    expect(setup.front.inbox.map((m) => m.body)).toEqual(['SMS failed to send. Error (30008): Unknown error\nlost then failed']);
  });

  it('hosts Front attachments at signed, expiring URLs for MediaUrl', async () => {
    await connected();
    const png = Buffer.from('89504e470d0a1a0a', 'hex');
    await setup.frontClient.message({ id: 'msg_img', channelId: CHANNEL_ID, text: 'see pic', to: [CUSTOMER], attachments: [{ filename: 'pic.png', contentType: 'image/png', bytes: png }] });
    await setup.pass(setup.channel);
    const form = setup.signalwire.requests.find((r) => r.method === 'POST')!.form;
    const mediaUrl = form.find(([k]) => k === 'MediaUrl')![1];
    expect(mediaUrl.startsWith(`${setup.publicUrl}/v1/media/`)).toBe(true);
    const fetched = await fetch(mediaUrl);
    expect(fetched.status).toBe(200);
    expect(fetched.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await fetched.arrayBuffer())).toEqual(png);
    // The download went to Front with the channel JWT.
    expect(setup.front.requests.find((r) => r.path.startsWith('/attachments/'))?.headers.authorization).toMatch(/^Bearer ey/);
    const tampered = mediaUrl.replace(/sig=[^&]+/, 'sig=AAAA');
    expect((await fetch(tampered)).status).toBe(401);
    const extended = mediaUrl.replace(/expires=\d+/, `expires=${Math.floor(Date.now() / 1000) + 86400}`);
    expect((await fetch(extended)).status).toBe(401);
  });

  it('refuses attachment URLs that are not on Front, without fetching them', async () => {
    await connected();
    const body = {
      type: 'message',
      payload: { id: 'msg_ssrf', text: 'x', created_at: Date.now() / 1000, recipients: [{ handle: CUSTOMER, role: 'to' }], attachments: [{ id: 'fil_1', url: 'http://169.254.169.254/latest/meta-data', filename: 'x', content_type: 'image/png' }] },
    };
    await setup.frontClient.raw({ body });
    await setup.pass(setup.channel);
    expect(await setup.rows()).toMatchObject([{ delivery_status: 'failed' }]);
    expect(setup.signalwire.sent()).toHaveLength(0);
  });
});

describe('SMS → Front', () => {
  it('imports an inbound SMS into the Front channel once, with WebhookDB\'s body and metadata', async () => {
    await connected();
    const { message } = await setup.signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body: 'I need help' }, hookUrl());
    const [row] = await setup.rows();
    expect(row).toMatchObject({ external_id: message.sid, signalwire_sid: message.sid, front_message_id: null, direction: 'inbound', sender: CUSTOMER, recipient: SUPPORT, external_conversation_id: CUSTOMER });
    await setup.pass(setup.channel);
    await setup.pass(setup.channel);
    expect(setup.front.inbox).toHaveLength(1);
    const [imported] = setup.front.inbox;
    expect(imported).toMatchObject({ channelId: CHANNEL_ID, kind: 'inbound', senderHandle: CUSTOMER, body: 'I need help', externalId: message.sid, externalConversationId: CUSTOMER });
    expect(Math.abs(imported!.deliveredAt! - Date.now() / 1000)).toBeLessThan(60);
    const request = setup.front.requests.find((r) => r.path === `/channels/${CHANNEL_ID}/inbound_messages`)!;
    expect(Object.keys(JSON.parse(request.body.toString()))).toEqual(['body', 'delivered_at', 'metadata', 'sender']);
    expect((await setup.rows())[0]).toMatchObject({ front_message_id: imported!.messageUid, delivery_status: 'delivered' });
  });

  it('takes, in the same pass, a row committed after the pass read past its pk', async () => {
    // A pk is taken when a row is written, not when it commits: commits land out of pk order under load.
    await connected();
    await setup.signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body: 'first' }, hookUrl());
    const client = new pg.Client({ connectionString: database().url });
    await client.connect();
    try {
      await client.query('BEGIN');
      // Takes the next pk, and stays invisible until committed.
      await client.query(`
        INSERT INTO front_signalwire_message_channel_app_v1 (integration_id, external_id, signalwire_sid, external_conversation_id, direction, body, sender, recipient, data)
        SELECT integration_id, external_id || '-late', signalwire_sid, external_conversation_id, direction, 'late', sender, recipient, data
        FROM front_signalwire_message_channel_app_v1`);
      await setup.signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body: 'second' }, hookUrl());
      setup.front.faults.latencyMs = 300;
      const pass = setup.pass(setup.channel);
      // The pass has read its batch (first, second) and is importing the first: commit the late row now.
      await waitFor(() => setup.front.requests.length > 0, { what: 'the first import' });
      await client.query('COMMIT');
      expect(await pass).toMatchObject({ status: 'succeeded', rowsProcessed: 3 });
    } finally {
      await client.end();
    }
    expect(setup.front.inbox.map((m) => m.body).sort()).toEqual(['first', 'late', 'second']);
  });

  it('uses "<no body>" for an empty SMS and ignores messages to other numbers', async () => {
    await connected();
    await setup.signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body: '' }, hookUrl());
    await setup.signalwire.receiveInbound({ from: CUSTOMER, to: '+15559990000', body: 'not ours' }, hookUrl());
    await setup.pass(setup.channel);
    expect(setup.front.inbox.map((m) => m.body)).toEqual(['<no body>']);
  });

  it('joins a text/plain part to the body and attaches images', async () => {
    await connected();
    const jpeg = Buffer.from('ffd8ffe000104a464946', 'hex');
    await setup.signalwire.receiveInbound(
      {
        from: CUSTOMER,
        to: SUPPORT,
        body: 'photo',
        media: [
          { sid: 'ME1', content_type: 'text/plain', bytes: Buffer.from('caption text') },
          { sid: 'ME2', content_type: 'image/jpeg', bytes: jpeg },
        ],
      },
      hookUrl(),
    );
    await setup.pass(setup.channel);
    const [imported] = setup.front.inbox;
    expect(imported!.body).toBe('photo\ncaption text');
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
    expect(imported!.attachments).toEqual([{ filename: `${day}-attachment1.jpeg`, contentType: 'image/jpeg', bytes: jpeg }]);
    expect(imported!.contentType).toBe('multipart/form-data');
  });

  it('waits for the Front channel: the pass says so, and the authorization request lets it through', async () => {
    setup = await setUpChannel(database());
    await setup.signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body: 'early' }, hookUrl());
    expect(await setup.pass(setup.channel)).toMatchObject({ status: 'failed', retryable: false });
    expect(await setup.reload(setup.channel)).toMatchObject({ last_error_code: 'SB_ERR_NOT_CONNECTED' });
    await setup.frontClient.authorize(CHANNEL_ID);
    setup.channel = await setup.reload(setup.channel);
    await setup.pass(setup.channel);
    expect(setup.front.inbox.map((m) => m.body)).toEqual(['early']);
  });

  it('imports SMS sent from our number outside Front as outbound messages, and skips old ones', async () => {
    await connected();
    setup.signalwire.addMessage({ from: SUPPORT, to: CUSTOMER, body: 'blast', direction: 'outbound-api', status: 'delivered' });
    setup.signalwire.addMessage({ from: CUSTOMER, to: SUPPORT, body: 'ancient', dateCreated: new Date(Date.now() - 72 * 3_600_000) });
    await setup.pass(setup.sw);
    await setup.pass(setup.channel);
    expect(setup.front.inbox.map((m) => [m.kind, m.toHandles, m.body])).toEqual([['outbound', [CUSTOMER], 'blast']]);
    expect((await setup.rows()).find((r) => r.body === 'ancient')).toMatchObject({ front_message_id: 'skipped_due_to_age', delivery_status: 'skipped' });
  });

  it('posts one failure notice into Front per failed SMS', async () => {
    await connected();
    await setup.frontClient.message({ id: 'msg_f', channelId: CHANNEL_ID, text: 'This message will fail to arrive', to: [CUSTOMER] });
    await setup.pass(setup.channel);
    const [sent] = setup.signalwire.sent();
    await setup.signalwire.setStatus(sent!.sid, 'failed', { errorCode: '30008', errorMessage: 'Unknown error' });
    await setup.pass(setup.channel);
    await setup.signalwire.setStatus(sent!.sid, 'undelivered', { errorCode: '30003', errorMessage: 'Unreachable' });
    await setup.pass(setup.sw);
    await setup.pass(setup.channel);
    expect(setup.front.inbox.map((m) => [m.kind, m.senderHandle, m.body, m.externalId, m.externalConversationId])).toEqual([
      ['inbound', CUSTOMER, 'SMS failed to send. Error (30008): Unknown error\nThis message will fail to ', sent!.sid, CUSTOMER],
    ]);
  });
});

describe('SMS → Front, a batch at a time (a poll page, a group commit)', () => {
  it('one page of messages: inbound and outside-Front SMS imported once each, our lost send matched, a failure noticed once', async () => {
    await connected();
    await lostSend('msg_page', 'ours, response lost');
    setup.signalwire.faults.script.length = 0;
    setup.signalwire.addMessage({ from: CUSTOMER, to: SUPPORT, body: 'one' });
    setup.signalwire.addMessage({ from: CUSTOMER_2, to: SUPPORT, body: 'two' });
    setup.signalwire.addMessage({ from: SUPPORT, to: CUSTOMER, body: 'blast', direction: 'outbound-api', status: 'delivered' });
    setup.signalwire.addMessage({ from: SUPPORT, to: CUSTOMER_2, body: 'bounced', direction: 'outbound-api', status: 'failed', error_code: 30003, error_message: 'Unreachable' });
    await setup.pass(setup.sw);
    await dueNow();
    await setup.pass(setup.channel);
    await setup.pass(setup.channel);

    const [ours] = setup.signalwire.sent();
    expect(setup.signalwire.sent()).toHaveLength(1);
    expect((await setup.rows()).find((r) => r.front_message_id === 'msg_page')).toMatchObject({ delivery_status: 'delivered', signalwire_sid: ours!.sid });
    expect(setup.front.inbox.map((m) => [m.kind, m.body]).sort()).toEqual([
      ['inbound', 'SMS failed to send. Error (30003): Unreachable\nbounced'],
      ['inbound', 'one'],
      ['inbound', 'two'],
      ['outbound', 'blast'],
      ['outbound', 'bounced'],
    ]);
  });

  it('two versions of one outside-Front SMS in one transaction import it once, as a known message is left as it is', async () => {
    await connected();
    const sent = setup.signalwire.addMessage({ from: SUPPORT, to: CUSTOMER, body: 'typed elsewhere', direction: 'outbound-api', status: 'sent' });
    const smsReplicator = setup.engine.registry.get(setup.sw.service_name);
    const rowsOf = (item: unknown) => smsReplicator.toRows!(item, { integration: setup.sw, config: setup.engine.config });
    const first = rowsOf(sent);
    // A later poll's view of it: delivered, updated a minute on.
    const second = rowsOf({ ...sent, status: 'delivered', date_updated: new Date(Date.now() + 60_000).toUTCString().replace('GMT', '+0000') });
    const [v1, v2] = await ingestRounds(setup.engine, setup.sw, [first, second], { origin: 'webhook' });
    expect([v1![0]!.changed, v2![0]!.changed]).toEqual([true, true]);

    const imported = (await setup.rows()).filter((r) => r.signalwire_sid === sent.sid);
    expect(imported.map((r) => [r.direction, r.body, r.data.status])).toEqual([['outbound', 'typed elsewhere', 'sent']]);
    await setup.pass(setup.channel);
    expect(setup.front.inbox.map((m) => m.body)).toEqual(['typed elsewhere']);
  });
});

describe('edge cases WebhookDB got wrong', () => {
  it('no notice for failures older than four days; a null body still gets one', async () => {
    await connected();
    const fiveDaysAgo = new Date(Date.now() - 5 * 86_400_000);
    setup.signalwire.addMessage({ from: SUPPORT, to: CUSTOMER, body: 'old failure', direction: 'outbound-api', status: 'failed', dateCreated: fiveDaysAgo, date_updated: fiveDaysAgo.toUTCString().replace('GMT', '+0000'), error_code: 30003, error_message: 'Unreachable' });
    setup.signalwire.addMessage({ from: SUPPORT, to: CUSTOMER_2, body: null, direction: 'outbound-api', status: 'undelivered', error_code: 30005, error_message: 'Unknown destination' });
    await setup.pass(setup.sw);
    await setup.pass(setup.channel);
    expect(setup.front.inbox.filter((m) => m.body.startsWith('SMS failed')).map((m) => [m.senderHandle, m.body])).toEqual([
      [CUSTOMER_2, 'SMS failed to send. Error (30005): Unknown destination\n'],
    ]);
  });

  it('reset keeps the Front channel id', async () => {
    await connected();
    const run = await runCli(database().url, ['integrations', 'reset', String(setup.channel.id), '--json'], { env: { PUBLIC_URL: setup.publicUrl }, registry: defaultRegistry() });
    expect(run.code).toBe(0);
    expect((await setup.reload(setup.channel)).backfill_key).toBe(CHANNEL_ID);
  });
});
