/**
 * front_whatsapp_channel_app_v1 over real HTTP, with the WhatsApp and Front simulators:
 * set-up and Front's route, WhatsApp → Front (every message type, media, routing, BSUIDs),
 * Front → WhatsApp (text and media, receipts settling a lost answer, the residual window),
 * the 24-hour window with and without a template, coded and transient failures, a
 * rejected token, and read receipts. What the contract suite checks for every channel
 * (channel-contract.test.ts) is not repeated here.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { ingestRows } from '../../src/engine/ingest.ts';
import { integrationStatus } from '../../src/engine/status.ts';
import { graphErrorFault, type InboundType } from '../../src/simulators/whatsapp.ts';
import { CHANNEL_ID, CUSTOMER, setUpChannel, type ChannelSetup } from '../helpers/channel.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { queuedJobs } from '../helpers/jobs.ts';

const database = useTestDatabase();
let setup: ChannelSetup | undefined;
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

const WA_ID = CUSTOMER.slice(1);

const ADMIN_TOKEN = 'admin-token-for-whatsapp-0123456789';

async function connected(channelFlags: string[] = []): Promise<ChannelSetup> {
  setup = await setUpChannel(database(), { SWITCHBOARD_ADMIN_TOKEN: ADMIN_TOKEN }, { whatsapp: true, channelFlags });
  await setup.frontClient.authorize(CHANNEL_ID);
  setup.channel = await setup.reload(setup.channel);
  return setup;
}

const hook = (s: ChannelSetup) => `${s.publicUrl}/v1/service_integrations/${s.wa!.opaque_id}`;
const writes = (s: ChannelSetup, type: InboundType, fields: Record<string, unknown> = {}, from = WA_ID) =>
  s.whatsapp!.receiveInbound({ from, type, fields }, hook(s));
const says = (s: ChannelSetup, body: string) => writes(s, 'text', { text: { body } });
const reply = (s: ChannelSetup, id: string, text: string, extra: Record<string, unknown> = {}) => s.frontClient.message({ id, channelId: CHANNEL_ID, text, to: [CUSTOMER], ...extra });
const textsSent = (s: ChannelSetup) => s.whatsapp!.sent().map((m) => (m.type === 'text' ? (m.request.text as { body: string }).body : m.type));
const rowOf = async (s: ChannelSetup, frontId: string) => (await s.rows()).find((r) => r.front_message_id === frontId);
/** The client's messages so far were written `hours` ago (Meta's timestamps). */
const wroteHoursAgo = (s: ChannelSetup, hours: number) =>
  sql`UPDATE whatsapp_message_v1 SET "timestamp" = now() - make_interval(hours => ${hours}) WHERE direction = 'inbound'`.execute(s.engine.db);

describe('set-up and Front\'s route', () => {
  it('create prints the API key and setup steps, refuses a malformed template, and the route checks type, then key, then signature', async () => {
    const s = await connected(['--reengage-template', 'new_message:en']);
    expect(s.apiKey).toMatch(/^sk\/svi_/);
    const info = (await s.cli('integrations', 'info', String(s.channel.id), '--json')).json();
    expect(info).toMatchObject({ settings: { reengage_template: 'new_message:en' }, webhook_url: `${s.publicUrl}/v1/install/front_whatsapp/channel` });
    expect(info.setup).toMatch(/WhatsApp Channel in Front/);
    const bad = await s.cli('integrations', 'create', 'front_whatsapp_channel_app_v1', '--depends-on', String(s.wa!.id), '--reengage-template', 'no language');
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/name:language/)]);

    expect((await s.frontClient.raw({ body: { type: 'bogus' }, apiKey: null })).status).toBe(400);
    expect((await s.frontClient.raw({ body: { type: 'authorization', payload: { channel_id: 'x' } }, apiKey: null })).status).toBe(401);
    expect((await s.frontClient.raw({ body: { type: 'authorization', payload: { channel_id: 'x' } }, secret: 'wrong' })).status).toBe(401);
    // The SMS channel's key does not open the WhatsApp channel's route.
    const sms = await s.cli('integrations', 'create', 'front_signalwire_message_channel_app_v1', '--depends-on', String(s.sw.id), '--phone', '+15550001111', '--json');
    expect((await s.frontClient.raw({ body: { type: 'authorization', payload: { channel_id: 'x' } }, apiKey: sms.json().api_key })).status).toBe(401);
    expect((await s.reload(s.channel)).backfill_key).toBe(CHANNEL_ID);

    const deleted = await s.frontClient.raw({ method: 'DELETE', body: { type: 'delete' } });
    expect([deleted.status, deleted.json()]).toEqual([200, {}]);
    expect(await s.engine.db.selectFrom('service_integrations').select('id').where('id', '=', s.channel.id).execute()).toEqual([]);
  });
});

describe('WhatsApp → Front', () => {
  it('imports a client\'s message once, in the conversation of their E.164 number, as its text or a short line', async () => {
    const s = await connected();
    const text = await says(s, 'I need help');
    await s.whatsapp!.postWebhook(hook(s), JSON.stringify(s.whatsapp!.envelope({ messages: [text.message] })));
    await writes(s, 'location');
    await writes(s, 'interactive');
    await writes(s, 'button');
    await writes(s, 'reaction');
    await writes(s, 'unsupported');
    await writes(s, 'contacts');
    await s.pass(s.channel);
    await s.pass(s.channel);
    expect(s.front.inbox.map((m) => [m.senderHandle, m.externalConversationId])).toEqual(Array(7).fill([CUSTOMER, CUSTOMER]));
    expect(s.front.inbox.map((m) => m.body)).toEqual([
      'I need help',
      'Location: Nairobi, Kenyatta Ave\n-1.2921, 36.8219\nhttps://www.openstreetmap.org/?mlat=-1.2921&mlon=36.8219#map=17/-1.2921/36.8219',
      'Talk to someone',
      'Show message',
      'Reacted ❤️ to a message',
      '(a WhatsApp message of a type Switchboard does not show: unsupported)',
      'Shared contact: Auntie +254700000001',
    ]);
    expect((await s.rows()).every((r) => r.delivery_status === 'delivered' && r.whatsapp_wamid.startsWith('wamid.'))).toBe(true);
  });

  it('a message to a number without a flow asks for a pass of its Front channel only, none of the number', async () => {
    const s = await connected();
    await sql`DELETE FROM graphile_worker._private_jobs`.execute(s.engine.db);
    expect((await says(s, 'no flow here')).status).toBe(200);
    expect((await queuedJobs(s.engine.db)).map((j) => j.key)).toEqual([`backfill:${s.channel.id}`]);
  });

  it('downloads media through the Graph API and attaches it; media WhatsApp no longer has is imported with a line saying so', async () => {
    const s = await connected();
    const image = s.whatsapp!.addMedia(Buffer.from('jpeg bytes'), 'image/jpeg');
    await writes(s, 'image', { image: { id: image, mime_type: 'image/jpeg', sha256: 'x', caption: 'my bruise' } });
    await writes(s, 'document', { document: { id: '999', mime_type: 'application/pdf', sha256: 'x', filename: 'gone.pdf' } });
    await s.pass(s.channel);
    const [photo, gone] = s.front.inbox;
    expect(photo).toMatchObject({ body: 'my bruise', attachments: [{ contentType: 'image/jpeg', bytes: Buffer.from('jpeg bytes') }] });
    expect(photo!.attachments[0]!.filename).toMatch(/^\d{8}-image\.jpeg$/);
    expect(gone).toMatchObject({ body: '(document)\nError: the document could not be downloaded from WhatsApp (100).', attachments: [] });
    expect(s.whatsapp!.requests.filter((r) => r.path.startsWith('/download/')).map((r) => r.headers.authorization)).toEqual([`Bearer ${s.whatsapp!.accessToken}`]);
  });

  it('keys a client Meta shows without a phone number by their business-scoped user id', async () => {
    const s = await connected();
    const bsuid = 'ZA.1502576394655843';
    await writes(s, 'text', { text: { body: 'from a username' } }, bsuid);
    await s.pass(s.channel);
    expect(s.front.inbox.map((m) => [m.body, m.senderHandle, m.externalConversationId])).toEqual([['from a username', bsuid, bsuid]]);
  });

  it('imports a message a flow held undecided (routed_to NULL) only when it is upserted again routed to Front', async () => {
    const s = await connected();
    const wamid = 'wamid.held-by-a-flow';
    const row = (routedTo: string | null) => ({
      key: wamid,
      columns: { direction: 'inbound', from: WA_ID, to: s.whatsapp!.displayPhoneNumber, type: 'text', status: 'received', timestamp: new Date(), error_code: null, error_title: null, routed_to: routedTo },
      data: { message: { from: WA_ID, id: wamid, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: 'after the menu' } }, contact: null, metadata: { display_phone_number: s.whatsapp!.displayPhoneNumber, phone_number_id: s.whatsapp!.phoneNumberId } },
    });
    await ingestRows(s.engine, s.wa!, [row(null)], { origin: 'webhook' });
    await s.pass(s.channel);
    expect([await s.rows(), s.front.inbox]).toEqual([[], []]);
    await ingestRows(s.engine, s.wa!, [row('front')], { origin: 'webhook' });
    await s.pass(s.channel);
    expect(s.front.inbox.map((m) => m.body)).toEqual(['after the menu']);
  });
});

describe('Front → WhatsApp', () => {
  it('sends a reply once as text tagged with our id, attachments as media by link, and writes the wamid back', async () => {
    const s = await connected();
    await says(s, 'hello');
    await reply(s, 'msg_1', 'We are here for you', { attachments: [{ filename: 'leaflet.pdf', contentType: 'application/pdf', bytes: Buffer.from('%PDF') }] });
    await s.pass(s.channel);
    await s.pass(s.channel);
    const [text, media] = s.whatsapp!.sent();
    expect(text).toMatchObject({ to: WA_ID, type: 'text', request: { text: { body: 'We are here for you' } } });
    const row = await rowOf(s, 'msg_1');
    expect(row).toMatchObject({ delivery_status: 'delivered', whatsapp_wamid: text!.wamid });
    expect(text!.bizOpaqueCallbackData).toBe(`fwca:${s.channel.id}:${row!.pk}`);
    expect(media).toMatchObject({ type: 'document', request: { document: { filename: 'leaflet.pdf' } } });
    const link = (media!.request.document as { link: string }).link;
    expect(Buffer.from(await (await fetch(link)).arrayBuffer()).toString()).toBe('%PDF');
    expect(s.whatsapp!.sent()).toHaveLength(2);
  });

  it('holds a send whose answer was lost until its receipt comes; with no receipt by the deadline it sends again (the residual window)', async () => {
    const s = await connected();
    await says(s, 'hello');
    s.whatsapp!.faults.script.push({ kind: 'lost-response' });
    await reply(s, 'msg_lost', 'still there?');
    await s.pass(s.channel);
    await sql`UPDATE front_whatsapp_channel_app_v1 SET next_attempt_at = now()`.execute(s.engine.db);
    await s.pass(s.channel);
    // Held: no second copy while Meta's receipt may still come.
    expect(textsSent(s)).toEqual(['still there?']);
    const held = await rowOf(s, 'msg_lost');
    expect(held).toMatchObject({ delivery_status: 'pending', whatsapp_wamid: null });
    // Looking again does not move the hold: it runs from the unanswered send.
    await sql`UPDATE front_whatsapp_channel_app_v1 SET next_attempt_at = now()`.execute(s.engine.db);
    await s.pass(s.channel);
    expect([textsSent(s), (await rowOf(s, 'msg_lost'))!.send_started_at]).toEqual([['still there?'], held!.send_started_at]);
    // The receipt never comes and the hold (SWITCHBOARD_WHATSAPP_SEND_HOLD_S, 10 minutes) runs out: the reply goes again, and WhatsApp shows it twice.
    await sql`UPDATE front_whatsapp_channel_app_v1 SET send_started_at = now() - interval '11 minutes', next_attempt_at = now()`.execute(s.engine.db);
    await s.pass(s.channel);
    expect(textsSent(s)).toEqual(['still there?', 'still there?']);
    expect(await rowOf(s, 'msg_lost')).toMatchObject({ delivery_status: 'delivered', whatsapp_wamid: s.whatsapp!.sent()[1]!.wamid });
  });

  it('marks the client\'s messages read when a reply is sent, unless read receipts are off', async () => {
    const s = await connected();
    await says(s, 'one');
    const last = await says(s, 'two');
    await reply(s, 'msg_r', 'read you');
    await s.pass(s.channel);
    expect(s.whatsapp!.markedRead).toEqual([last.message.id]);
    await setup!.close();
    const off = await connected(['--read-receipts', 'off']);
    await says(off, 'three');
    await reply(off, 'msg_r2', 'quietly');
    await off.pass(off.channel);
    expect([textsSent(off), off.whatsapp!.markedRead]).toEqual([['quietly'], []]);
  });
});

describe('the 24-hour window', () => {
  it('without a template: a reply after the window is skipped with its reason, and the counsellor told once', async () => {
    const s = await connected();
    await says(s, 'yesterday');
    await s.pass(s.channel);
    await wroteHoursAgo(s, 25);
    await reply(s, 'msg_late', 'sorry for the wait');
    await s.pass(s.channel);
    await s.pass(s.channel);
    expect(textsSent(s)).toEqual([]);
    expect(await rowOf(s, 'msg_late')).toMatchObject({ delivery_status: 'skipped', whatsapp_wamid: 'skipped', delivery_error_message: expect.stringMatching(/24-hour window/) });
    expect(s.front.inbox.map((m) => m.body)).toEqual(['yesterday', expect.stringMatching(/^Not sent: more than 24 hours .* the reply was skipped\.$/)]);
  });

  it('with a template: sends it once, keeps the replies, tells the counsellor, and sends them when the client writes back', async () => {
    const s = await connected(['--reengage-template', 'new_message:en']);
    await says(s, 'yesterday');
    await s.pass(s.channel);
    await wroteHoursAgo(s, 25);
    await reply(s, 'msg_a', 'first reply');
    await reply(s, 'msg_b', 'second reply');
    await s.pass(s.channel);
    await sql`UPDATE front_whatsapp_channel_app_v1 SET next_attempt_at = now()`.execute(s.engine.db);
    await s.pass(s.channel);
    expect(s.whatsapp!.sent().map((m) => [m.type, m.request.template])).toEqual([['template', { name: 'new_message', language: { code: 'en', policy: 'deterministic' } }]]);
    expect((await rowOf(s, 'msg_a'))!.delivery_status).toBe('pending');
    expect(s.front.inbox.filter((m) => m.body.startsWith('Not sent yet'))).toHaveLength(2);
    await says(s, 'I am back');
    await s.pass(s.channel);
    expect(textsSent(s)).toEqual(['template', 'first reply', 'second reply']);
    expect((await s.rows()).filter((r) => r.direction === 'outbound').map((r) => r.delivery_status)).toEqual(['delivered', 'delivered']);
  });
});

describe('failures', () => {
  it('a coded refusal (131026) fails the row with its code and tells the counsellor once', async () => {
    const s = await connected();
    await says(s, 'hi');
    s.whatsapp!.undeliverable.add(WA_ID);
    await reply(s, 'msg_x', 'unlucky');
    await s.pass(s.channel);
    await s.pass(s.channel);
    expect(await rowOf(s, 'msg_x')).toMatchObject({ delivery_status: 'failed', delivery_error_code: '131026' });
    expect(s.front.inbox.map((m) => m.body)).toEqual(['hi', 'WhatsApp message failed to send. Error (131026): (#131026) Message undeliverable\nunlucky']);
  });

  it('a rate limit (130429) backs off for at least its Retry-After, then the reply goes', async () => {
    const s = await connected();
    await says(s, 'hi');
    s.whatsapp!.faults.script.push(graphErrorFault(130429, { status: 429, retryAfterS: 120 }));
    await reply(s, 'msg_rl', 'patience');
    await s.pass(s.channel);
    const { rows } = await sql<{ wait: number }>`
      SELECT extract(epoch FROM next_attempt_at - now())::float8 AS wait FROM front_whatsapp_channel_app_v1 WHERE front_message_id = 'msg_rl'`.execute(s.engine.db);
    expect(rows[0]!.wait).toBeGreaterThan(100);
    await sql`UPDATE front_whatsapp_channel_app_v1 SET next_attempt_at = now()`.execute(s.engine.db);
    await s.pass(s.channel);
    expect(textsSent(s)).toEqual(['patience']);
  });

  it('a rejected token (190) stops the pass, leaves the reply pending and shows on the integration with its fix', async () => {
    const s = await connected();
    await says(s, 'hi');
    await s.pass(s.channel);
    await sql`UPDATE service_integrations SET backfill_secret = 'expired' WHERE id = ${s.wa!.id}`.execute(s.engine.db);
    await reply(s, 'msg_t', 'token?');
    expect(await s.pass(s.channel)).toMatchObject({ status: 'failed', error: { code: 'SB_ERR_PROVIDER_AUTH', providerCode: '190' } });
    expect((await rowOf(s, 'msg_t'))!.delivery_status).toBe('pending');
    const status = await integrationStatus(s.engine, await s.reload(s.channel));
    expect(status.error).toMatchObject({ code: 'SB_ERR_PROVIDER_AUTH', fix: expect.stringContaining(`integrations update ${s.wa!.id} --access-token`) });
  });
});

describe('the views', () => {
  it('list WhatsApp messages in channel_messages with their wamid and receipt, and attribute the session\'s entry to whatsapp', async () => {
    const s = await connected();
    await says(s, 'hello');
    await reply(s, 'msg_v', 'hi there');
    await s.pass(s.channel);
    await s.pass(s.channel);
    const [sent] = s.whatsapp!.sent();
    await s.whatsapp!.sendStatus(sent!.wamid, 'delivered', hook(s));
    const { rows } = await sql<Record<string, unknown>>`
      SELECT channel, entry, direction, body, delivery_status, provider_message_id, transport_status FROM channel_messages ORDER BY pk`.execute(s.engine.db);
    expect(rows).toEqual([
      { channel: 'whatsapp', entry: 'whatsapp', direction: 'inbound', body: 'hello', delivery_status: 'delivered', provider_message_id: expect.stringMatching(/^wamid\./), transport_status: 'received' },
      { channel: 'whatsapp', entry: 'whatsapp', direction: 'outbound', body: 'hi there', delivery_status: 'delivered', provider_message_id: sent!.wamid, transport_status: 'delivered' },
    ]);
    const sessions = await sql<{ entry: string; messages: number }>`SELECT entry, messages FROM conversation_sessions`.execute(s.engine.db);
    expect(sessions.rows).toEqual([{ entry: 'whatsapp', messages: 2 }]);
    // The dashboard's thread shows the wamid and the receipt.
    const thread = await fetch(`${s.publicUrl}/api/v1/dashboard/conversations/${encodeURIComponent(CUSTOMER)}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(((await thread.json()) as { messages: unknown[] }).messages[1]).toMatchObject({ channel: 'whatsapp', provider_message_id: sent!.wamid, transport_status: 'delivered', signalwire_sid: null, sms_status: null });
  });
});
