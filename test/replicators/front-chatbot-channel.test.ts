/**
 * `front_chatbot_channel_app_v1` (issue 17, item 2) against the Front and RapidPro
 * simulators: a handoff's client messages imported once, in order, into one conversation
 * per handoff and shown by pseudonym; a counsellor's reply sent once through RapidPro,
 * signed, reconciled when its answer is lost; its RapidPro status tracked to final, a
 * failure told to Front once; the bot's receipts recorded; nothing sent to a closed handoff.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { endNotice } from '../../src/replicators/front-chatbot-channel-app-v1/index.ts';
import { failedNotice } from '../../src/replicators/front-chatbot-channel-app-v1/status.ts';
import { CHATBOT_CHANNEL_ID, setUpChatbot, type ChatbotSetup } from '../helpers/chatbot.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
let setup: ChatbotSetup | undefined;
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

/** A handoff with one client message, imported; the contact's uuid and the conversation id. */
async function handedOff(s: ChatbotSetup, session = 's-1') {
  const contact = s.rapidpro.addContact({ urn: 'whatsapp:15550001234', name: 'Client' });
  const bot = s.bot();
  const said = await bot.say({ contact: contact.uuid, session, text: 'I am scared', pseudonym: 'Blue Fish' });
  expect(said.call.status).toBe(200);
  await s.pass(s.channel);
  return { contact: contact.uuid, bot, conversation: `${session}#1` };
}

const reply = (s: ChatbotSetup, id: string, text: string, conversation: string) =>
  s.frontClient.message({ id, channelId: CHATBOT_CHANNEL_ID, text, to: [conversation], externalConversationIds: [conversation], author: { first_name: 'Ada' } });

/** The JSON bodies Front's import API received. */
const importBodies = (s: ChatbotSetup) =>
  s.front.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/inbound_messages')).map((r) => JSON.parse(r.body.toString('utf8')));

/** Move a reply's timestamp back, as time passing would. */
const older = (s: ChatbotSetup, frontMessageId: string, column: string, interval: string) =>
  sql`UPDATE front_chatbot_channel_app_v1 SET ${sql.ref(column)} = ${sql.ref(column)} - ${interval}::interval WHERE front_message_id = ${frontMessageId}`.execute(s.engine.db);

describe('bot → Front', () => {
  it('imports a handoff\'s messages once, in order, into one conversation, the client shown by pseudonym', async () => {
    setup = await setUpChatbot(database());
    const { contact, bot } = await handedOff(setup);
    await bot.say({ contact, session: 's-1', text: 'are you there?', pseudonym: 'Blue Fish' });
    await bot.say({ contact, session: 's-1', text: 'please', pseudonym: 'Blue Fish' });
    // A flow that retries the same message: stored once, imported once.
    const [, again] = bot.calls.filter((c) => c.path === 'chat/').slice(-2);
    await setup.call('POST', 'chat/', { json: again!.body, token: bot.apiToken! });
    await setup.pass(setup.channel);
    await setup.pass(setup.channel);
    expect(setup.front.inbox.map((m) => [m.body, m.externalConversationId])).toEqual([
      ['I am scared', 's-1#1'],
      ['are you there?', 's-1#1'],
      ['please', 's-1#1'],
    ]);
    const bodies = importBodies(setup);
    expect(bodies.map((b) => b.sender)).toEqual(Array(3).fill({ handle: 's-1#1', name: 'Blue Fish' }));
    expect(JSON.stringify(bodies)).not.toContain('15550001234');
  });

  it('starts a new Front conversation for the handoff after a close', async () => {
    setup = await setUpChatbot(database());
    const { contact, bot } = await handedOff(setup);
    expect((await bot.close('s-1')).status).toBe(200);
    await bot.say({ contact, session: 's-1', text: 'back again' });
    await setup.pass(setup.channel);
    // Conversations are delivered side by side: the order holds within each.
    const of = (conversation: string) => setup!.front.inbox.filter((m) => m.externalConversationId === conversation).map((m) => m.body);
    expect(of('s-1#1')).toEqual(['I am scared', endNotice('bot', 1440)]);
    expect(of('s-1#2')).toEqual(['back again']);
    expect(setup.front.inbox).toHaveLength(3);
  });
});

describe('Front → bot', () => {
  it('sends a counsellor\'s reply once through RapidPro to the contact, signed with their first name', async () => {
    setup = await setUpChatbot(database());
    const { contact, conversation } = await handedOff(setup);
    const answer = await reply(setup, 'msg_r1', 'You are safe here', conversation);
    expect(answer.json()).toEqual({ type: 'success', external_id: `msg_r1-${conversation}`, external_conversation_id: conversation });
    await reply(setup, 'msg_r1', 'You are safe here', conversation);
    await setup.pass(setup.channel);
    await setup.pass(setup.channel);
    const sent = setup.rapidpro.sent();
    expect(sent.map((m) => [m.contact.uuid, m.text])).toEqual([[contact, 'Ada: You are safe here']]);
    const row = (await setup.rows()).find((r) => r.front_message_id === 'msg_r1');
    expect(row).toMatchObject({ delivery_status: 'delivered', rapidpro_message_uuid: sent[0]!.uuid, rapidpro_status: 'queued' });
    const post = setup.rapidpro.requests.find((r) => r.method === 'POST' && r.path === '/api/v2/messages.json');
    expect(post?.body).toEqual({ contact, text: 'Ada: You are safe here' });
    // The SQL views show the handoff with entry channel `chatbot`.
    const { rows: messages } = await sql<Record<string, unknown>>`
      SELECT channel, entry, conversation_id, direction, provider_message_id, transport_status FROM channel_messages ORDER BY pk`.execute(setup.engine.db);
    expect(messages).toEqual([
      { channel: 'chatbot', entry: 'chatbot', conversation_id: conversation, direction: 'inbound', provider_message_id: null, transport_status: null },
      { channel: 'chatbot', entry: 'chatbot', conversation_id: conversation, direction: 'outbound', provider_message_id: sent[0]!.uuid, transport_status: 'queued' },
    ]);
    const { rows: sessions } = await sql`SELECT conversation_id, entry, messages::int FROM conversation_sessions`.execute(setup.engine.db);
    expect(sessions).toEqual([{ conversation_id: conversation, entry: 'chatbot', messages: 2 }]);
  });

  it('sends once when RapidPro\'s answer to the send is lost, finding the message it already made', async () => {
    setup = await setUpChatbot(database());
    const { conversation } = await handedOff(setup);
    setup.rapidpro.faultsFor('messages').script.push({ kind: 'lost-response' });
    await reply(setup, 'msg_lost', 'still here', conversation);
    await setup.pass(setup.channel);
    await setup.engine.db.updateTable('front_chatbot_channel_app_v1' as never).set({ next_attempt_at: null } as never).execute();
    await setup.pass(setup.channel);
    expect(setup.rapidpro.sent().map((m) => m.text)).toEqual(['Ada: still here']);
    expect((await setup.rows()).find((r) => r.front_message_id === 'msg_lost')).toMatchObject({ delivery_status: 'delivered', rapidpro_message_uuid: setup.rapidpro.sent()[0]!.uuid });
  });

  it('sends a reply RapidPro throttled (429) on the next attempt without looking it up first', async () => {
    setup = await setUpChatbot(database());
    const { conversation } = await handedOff(setup);
    setup.rapidpro.faultsFor('messages').script.push({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    await reply(setup, 'msg_429', 'one moment', conversation);
    await setup.pass(setup.channel);
    expect(setup.rapidpro.sent()).toEqual([]);
    await setup.engine.db.updateTable('front_chatbot_channel_app_v1' as never).set({ next_attempt_at: null } as never).execute();
    await setup.pass(setup.channel);
    expect(setup.rapidpro.sent().map((m) => m.text)).toEqual(['Ada: one moment']);
    // A refused send sent nothing: the retry goes straight to the send, no request spent looking for it
    // (the status tracking's GET comes after).
    expect(setup.rapidpro.requests.filter((r) => r.path === '/api/v2/messages.json').map((r) => r.method).slice(0, 2)).toEqual(['POST', 'POST']);
    expect((await setup.rows()).find((r) => r.front_message_id === 'msg_429')).toMatchObject({ delivery_status: 'delivered' });
  });

  it('still looks for a lost send after a later attempt was throttled, and sends once', async () => {
    setup = await setUpChatbot(database());
    const { conversation } = await handedOff(setup);
    setup.rapidpro.faultsFor('messages').script.push(
      // 1st attempt: sent, but the answer is lost.
      { kind: 'lost-response' },
      // 2nd: the look-up does not show it yet (RapidPro stores it late), and the send is throttled.
      { kind: 'status', status: 200, body: { next: null, results: [] } },
      { kind: 'status', status: 429, headers: { 'retry-after': '1' } },
    );
    await reply(setup, 'msg_lost_429', 'can you hear me', conversation);
    for (let attempt = 0; attempt < 3; attempt++) {
      await setup.pass(setup.channel);
      await setup.engine.db.updateTable('front_chatbot_channel_app_v1' as never).set({ next_attempt_at: null } as never).execute();
    }
    const sent = setup.rapidpro.sent();
    expect(sent.map((m) => m.text)).toEqual(['Ada: can you hear me']);
    expect((await setup.rows()).find((r) => r.front_message_id === 'msg_lost_429')).toMatchObject({ delivery_status: 'delivered', rapidpro_message_uuid: sent[0]!.uuid });
  });

  it('sends a Weni broadcast once when looking its message up was throttled, adopting it next time', async () => {
    setup = await setUpChatbot(database(), [], { rapidpro: { variant: 'weni' } });
    const { conversation } = await handedOff(setup);
    // POST messages.json (refused by Weni itself), then the broadcast's lookup: throttled.
    setup.rapidpro.faultsFor('messages').script.push({ kind: 'latency', ms: 0 }, { kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    await reply(setup, 'msg_weni_429', 'are you there', conversation);
    await setup.pass(setup.channel);
    expect(setup.rapidpro.sent().map((m) => m.text)).toEqual(['Ada: are you there']);
    expect((await setup.rows()).find((r) => r.front_message_id === 'msg_weni_429')).toMatchObject({ delivery_status: 'pending' });
    await setup.engine.db.updateTable('front_chatbot_channel_app_v1' as never).set({ next_attempt_at: null } as never).execute();
    await setup.pass(setup.channel);
    const sent = setup.rapidpro.sent();
    expect(sent.map((m) => m.text)).toEqual(['Ada: are you there']);
    expect((await setup.rows()).find((r) => r.front_message_id === 'msg_weni_429')).toMatchObject({ delivery_status: 'delivered', rapidpro_message_uuid: String(sent[0]!.id) });
  });

  it('sends through a broadcast on Weni Flows, which has no POST messages.json', async () => {
    setup = await setUpChatbot(database(), [], { rapidpro: { variant: 'weni' } });
    const { contact, conversation } = await handedOff(setup);
    await reply(setup, 'msg_weni', 'hello from the helpline', conversation);
    await setup.pass(setup.channel);
    const sent = setup.rapidpro.sent();
    expect(sent.map((m) => [m.contact.uuid, m.text, m.broadcast !== null])).toEqual([[contact, 'Ada: hello from the helpline', true]]);
    // Weni's messages have no uuid: the id names them.
    expect((await setup.rows()).find((r) => r.front_message_id === 'msg_weni')).toMatchObject({ rapidpro_message_uuid: String(sent[0]!.id) });
  });

  it('does not send a reply to a handoff the bot closed', async () => {
    setup = await setUpChatbot(database());
    const { bot, conversation } = await handedOff(setup);
    await bot.close('s-1');
    await reply(setup, 'msg_late', 'too late', conversation);
    await setup.pass(setup.channel);
    expect(setup.rapidpro.sent()).toEqual([]);
    expect((await setup.rows()).find((r) => r.front_message_id === 'msg_late')).toMatchObject({ delivery_status: 'skipped', rapidpro_message_uuid: 'skipped' });
  });

  it('refuses a reply to a conversation that is no handoff\'s with 422, storing nothing', async () => {
    setup = await setUpChatbot(database());
    const answer = await setup.frontClient.message({ id: 'msg_x', channelId: CHATBOT_CHANNEL_ID, text: 'hi', to: ['+15550002222'] });
    expect(answer.status).toBe(422);
    expect(await setup.rows()).toEqual([]);
  });

  it('tracks the RapidPro status to delivered, and records the bot\'s receipts', async () => {
    setup = await setUpChatbot(database());
    const { bot, conversation } = await handedOff(setup);
    await reply(setup, 'msg_track', 'how are you?', conversation);
    await setup.pass(setup.channel);
    const [sent] = setup.rapidpro.sent();
    setup.rapidpro.advance(sent!.uuid, 'delivered');
    await older(setup, 'msg_track', 'rapidpro_checked_at', '2 minutes');
    await setup.pass(setup.channel);
    const rowOf = async () => (await setup!.rows()).find((r) => r.front_message_id === 'msg_track');
    expect(await rowOf()).toMatchObject({ rapidpro_status: 'delivered' });
    await bot.ack('s-1', sent!.uuid, 'read');
    await bot.ack('s-1', sent!.uuid, 'delivered');
    expect(await rowOf()).toMatchObject({ client_status: 'read' });
  });

  it('reads a reply\'s status at most once a minute, and stops a day after the send', async () => {
    setup = await setUpChatbot(database());
    const { conversation } = await handedOff(setup);
    await reply(setup, 'msg_slow', 'still there?', conversation);
    await setup.pass(setup.channel);
    const reads = () => setup!.rapidpro.requests.filter((r) => r.method === 'GET' && r.path === '/api/v2/messages.json').length;
    const age = (column: string, interval: string) => older(setup!, 'msg_slow', column, interval);
    const before = reads();
    await setup.pass(setup.channel);
    expect(reads()).toBe(before); // the send's answer was its first reading, a moment ago
    await age('rapidpro_checked_at', '2 minutes');
    await setup.pass(setup.channel);
    expect(reads()).toBe(before + 1);
    await setup.pass(setup.channel);
    expect(reads()).toBe(before + 1); // checked a moment ago: not again yet
    await age('rapidpro_checked_at', '2 minutes');
    await age('send_started_at', '25 hours');
    await setup.pass(setup.channel);
    expect(reads()).toBe(before + 1); // never final (the channel reports no delivery): left at its last status
    expect((await setup.rows()).find((r) => r.front_message_id === 'msg_slow')).toMatchObject({ rapidpro_status: 'queued' });
  });

  it('posts one notice into Front when RapidPro fails a reply', async () => {
    setup = await setUpChatbot(database());
    const { contact, conversation } = await handedOff(setup);
    setup.rapidpro.failingContacts.add(contact);
    await reply(setup, 'msg_fail', 'this will fail', conversation);
    await setup.pass(setup.channel);
    setup.rapidpro.advanceAll();
    setup.rapidpro.advanceAll();
    for (let i = 0; i < 3; i++) {
      await setup.pass(setup.channel);
      await setup.engine.db.updateTable('front_chatbot_channel_app_v1' as never).set({ rapidpro_status: 'errored', rapidpro_checked_at: null } as never).execute();
    }
    expect(setup.front.inbox.map((m) => [m.body, m.externalConversationId])).toEqual([
      ['I am scared', conversation],
      [failedNotice('this will fail'), conversation],
    ]);
  });
});
