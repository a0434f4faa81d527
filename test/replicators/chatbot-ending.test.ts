/**
 * Ending a handoff (issue 17, items 5 and 6's group): the bot's close/ is told to Front once;
 * a counsellor archiving the conversation (Front's signed application event; forged or
 * stale ones refused) is told to the bot once — --close-flow started, else the contact's
 * runs interrupted; the sweeper closes idle handoffs and tells both sides; with
 * --handoff-group the contact is in the group while handed off.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { endNotice } from '../../src/replicators/front-chatbot-channel-app-v1/index.ts';
import { ARCHIVE_CHECK_INTERVAL_S } from '../../src/replicators/front-chatbot-channel-app-v1/archives.ts';
import { CHATBOT_EVENTS_PATH } from '../../src/replicators/front-chatbot-channel-app-v1/events.ts';
import { signFrontRequest } from '../../src/simulators/front-client.ts';
import { CHATBOT_CHANNEL_ID, setUpChatbot, type ChatbotSetup } from '../helpers/chatbot.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
let setup: ChatbotSetup | undefined;
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

async function openHandoff(s: ChatbotSetup, session = 'end-1') {
  const contact = s.rapidpro.addContact({ urn: `telegram:${session.length}${Date.now() % 1000}` }).uuid;
  const bot = s.bot();
  await bot.say({ contact, session, text: 'help me' });
  await s.pass(s.channel);
  return { contact, bot };
}

/** Front's application event, signed with the app secret (or not, or long ago). */
async function frontEvent(s: ChatbotSetup, event: unknown, options: { secret?: string; timestamp?: number; headers?: Record<string, string> } = {}) {
  const body = JSON.stringify(event);
  const timestamp = String(options.timestamp ?? Date.now());
  const response = await fetch(`${s.publicUrl}${CHATBOT_EVENTS_PATH}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-front-request-timestamp': timestamp,
      'x-front-signature': signFrontRequest(options.secret ?? s.front.appSecret, timestamp, body),
      ...options.headers,
    },
    body,
  });
  return { status: response.status, text: await response.text() };
}

const archive = (conversation: string) => ({
  type: 'archive',
  authorization: { id: 'cmp_1' },
  payload: { id: 'evt_1', type: 'archive', conversation: { id: 'cnv_1', status: 'archived', recipient: { handle: conversation, role: 'from' } } },
});

describe('the bot ends it', () => {
  it('tells Front once, and does not tell the bot what it did', async () => {
    setup = await setUpChatbot(database());
    const { bot } = await openHandoff(setup);
    await bot.close('end-1');
    await bot.close('end-1');
    for (let i = 0; i < 2; i++) {
      await setup.pass(setup.channel);
      await setup.pass(setup.handoff);
    }
    expect(setup.front.inbox.map((m) => m.body)).toEqual(['help me', endNotice('bot', 1440)]);
    expect(setup.rapidpro.interrupted).toEqual([]);
    expect(setup.rapidpro.flowStarts()).toEqual([]);
  });
});

describe('a counsellor ends it in Front', () => {
  it('ends the handoff from an archive event and interrupts the contact\'s runs once', async () => {
    setup = await setUpChatbot(database());
    const { contact } = await openHandoff(setup);
    expect(await frontEvent(setup, archive('end-1#1'))).toEqual({ status: 200, text: '{}' });
    expect(await frontEvent(setup, archive('end-1#1'))).toMatchObject({ status: 200 });
    await setup.pass(setup.handoff);
    await setup.pass(setup.handoff);
    await setup.pass(setup.channel);
    expect(setup.rapidpro.interrupted).toEqual([contact]);
    expect((await setup.handoffs())[0]).toMatchObject({ status: 'closed', closed_by: 'counsellor' });
    // Front is not told what the counsellor did; the bot's close/ now says who ended it.
    expect(setup.front.inbox.map((m) => m.body)).toEqual(['help me']);
    const close = await setup.call('POST', 'chat/end-1/close/', { token: await setup.token() });
    expect(close.body).toMatchObject({ status: 'closed', closed_by: 'counsellor' });
  });

  it('starts --close-flow for the contact instead when it is set', async () => {
    setup = await setUpChatbot(database());
    const flow = setup.rapidpro.addFlow('Counsellor ended');
    expect((await setup.cli('integrations', 'update', String(setup.handoff.id), '--close-flow', flow.uuid)).code).toBe(0);
    const { contact } = await openHandoff(setup);
    await frontEvent(setup, archive('end-1#1'));
    await setup.pass(setup.handoff);
    await setup.pass(setup.handoff);
    expect(setup.rapidpro.flowStarts().map((s) => [s.flow.uuid, s.contacts.map((c) => c.uuid), s.params])).toEqual([
      [flow.uuid, [contact], { chat_session: 'end-1', handoff: 1, closed_by: 'counsellor' }],
    ]);
    expect(setup.rapidpro.interrupted).toEqual([]);
  });

  it('refuses forged and stale events, and echoes Front\'s challenge once verified', async () => {
    setup = await setUpChatbot(database());
    await openHandoff(setup);
    expect(await frontEvent(setup, archive('end-1#1'), { secret: 'not the secret' })).toMatchObject({ status: 401 });
    expect(await frontEvent(setup, archive('end-1#1'), { timestamp: Date.now() - 3_600_000 })).toMatchObject({ status: 401 });
    expect((await setup.handoffs())[0]).toMatchObject({ status: 'open' });
    expect(await frontEvent(setup, { type: 'sync' }, { headers: { 'x-front-challenge': 'abc123' } })).toEqual({ status: 200, text: 'abc123' });
    expect(await frontEvent(setup, { type: 'sync' }, { secret: 'nope', headers: { 'x-front-challenge': 'abc123' } })).toMatchObject({ status: 401 });
  });
});

describe('a counsellor ends it in Front and the event is lost', () => {
  const conversationReads = (s: ChatbotSetup) => s.front.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/conversations/')).length;
  const makeDue = (s: ChatbotSetup) =>
    sql`UPDATE chatbot_handoffs SET front_checked_at = now() - make_interval(secs => ${ARCHIVE_CHECK_INTERVAL_S + 1})`.execute(s.engine.db);

  it('learns the archive by polling the conversation, closes the handoff once and tells the bot once', async () => {
    setup = await setUpChatbot(database());
    const { contact } = await openHandoff(setup);
    const conversation = setup.front.conversationOf(CHATBOT_CHANNEL_ID, 'end-1#1')!;
    // The pass that imported the message learned its conversation, still open.
    expect((await setup.handoffs())[0]).toMatchObject({ status: 'open', front_conversation_id: conversation.id });
    expect(conversationReads(setup)).toBe(1);
    setup.front.archive(conversation.id); // and Front's archive event never comes
    await setup.pass(setup.channel);
    // Within the interval nothing is read again (Front's rate limit is the company's).
    expect(conversationReads(setup)).toBe(1);
    expect((await setup.handoffs())[0]).toMatchObject({ status: 'open' });
    await makeDue(setup);
    for (let i = 0; i < 2; i++) {
      await setup.pass(setup.channel);
      await setup.pass(setup.handoff);
    }
    expect((await setup.handoffs())[0]).toMatchObject({ status: 'closed', closed_by: 'counsellor' });
    expect(setup.rapidpro.interrupted).toEqual([contact]);
    // The event arriving late after all changes nothing; a closed handoff is not read again.
    expect(await frontEvent(setup, archive('end-1#1'))).toMatchObject({ status: 200 });
    await makeDue(setup);
    await setup.pass(setup.channel);
    await setup.pass(setup.handoff);
    expect(setup.rapidpro.interrupted).toEqual([contact]);
    expect((await setup.requests()).filter((r) => r.kind === 'close')).toHaveLength(1);
    expect(conversationReads(setup)).toBe(2);
    // The counsellor archived it: no notice is posted into Front.
    expect(setup.front.inbox.map((m) => m.body)).toEqual(['help me']);
  });

  it('leaves a handoff open while its conversation is, and reads nothing for one not yet in Front', async () => {
    setup = await setUpChatbot(database());
    await openHandoff(setup);
    setup.front.faults.script = [{ kind: 'status', status: 503 }];
    const contact = setup.rapidpro.addContact({ urn: 'telegram:4242' }).uuid;
    await setup.bot().say({ contact, session: 'end-2', text: 'anyone?' });
    await setup.pass(setup.channel); // the import of end-2 fails: not in Front
    await makeDue(setup);
    await setup.pass(setup.channel);
    const handoffs = await setup.handoffs();
    expect(handoffs.map((h) => [h.chat_session, h.status])).toEqual([
      ['end-1', 'open'],
      ['end-2', 'open'],
    ]);
    expect((await setup.rows()).find((r) => r.chat_session === 'end-2')).toMatchObject({ delivery_status: 'pending' });
    // end-1 read twice (when imported, and once due again); end-2 not at all.
    expect(conversationReads(setup)).toBe(2);
    expect(setup.front.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/messages/'))).toHaveLength(1);
    expect(handoffs.find((h) => h.chat_session === 'end-2')!.front_conversation_id).toBeNull();
    expect(setup.rapidpro.interrupted).toEqual([]);
  });
});

describe('the sweeper', () => {
  it('closes a handoff idle past --session-timeout and tells both sides once', async () => {
    setup = await setUpChatbot(database(), ['--session-timeout', '30']);
    const { contact } = await openHandoff(setup);
    await openHandoff(setup, 'end-2'); // still active: stays open
    await sql`UPDATE chatbot_handoffs SET last_message_at = now() - interval '31 minutes' WHERE chat_session = 'end-1'`.execute(setup.engine.db);
    for (let i = 0; i < 2; i++) {
      await setup.pass(setup.handoff);
      await setup.pass(setup.channel);
    }
    expect((await setup.handoffs()).map((h) => [h.chat_session, h.status, h.closed_by])).toEqual([
      ['end-1', 'closed', 'timeout'],
      ['end-2', 'open', null],
    ]);
    expect(setup.front.inbox.filter((m) => m.externalConversationId === 'end-1#1').map((m) => m.body)).toEqual(['help me', endNotice('timeout', 30)]);
    expect(setup.rapidpro.interrupted).toEqual([contact]);
  });
});

describe('--handoff-group', () => {
  it('puts the contact in the group while handed off, and takes them out at the end', async () => {
    setup = await setUpChatbot(database());
    const group = setup.rapidpro.addGroup('With a counsellor');
    await setup.cli('integrations', 'update', String(setup.handoff.id), '--handoff-group', group.uuid);
    const { contact, bot } = await openHandoff(setup);
    await setup.pass(setup.handoff);
    expect(setup.rapidpro.members(group.uuid)).toEqual([contact]);
    await bot.close('end-1');
    await setup.pass(setup.handoff);
    await setup.pass(setup.handoff);
    expect(setup.rapidpro.members(group.uuid)).toEqual([]);
    const actions = setup.rapidpro.requests.filter((r) => r.path === '/api/v2/contact_actions.json').map((r) => (r.body as { action: string }).action);
    expect(actions).toEqual(['add', 'remove']);
  });

  it('adds every contact of a backlog larger than one batch in one pass', async () => {
    setup = await setUpChatbot(database());
    const group = setup.rapidpro.addGroup('With a counsellor');
    await setup.cli('integrations', 'update', String(setup.handoff.id), '--handoff-group', group.uuid);
    const bot = setup.bot();
    const contacts: string[] = [];
    for (let n = 0; n < 110; n++) {
      const contact = setup.rapidpro.addContact({ urn: `telegram:5${n}` }).uuid;
      contacts.push(contact);
      await bot.say({ contact, session: `backlog-${n}`, text: 'help me' });
    }
    await setup.pass(setup.handoff);
    expect(new Set(setup.rapidpro.members(group.uuid))).toEqual(new Set(contacts));
  });
});

describe('replies after the end', () => {
  it('are not sent to a handoff a counsellor archived', async () => {
    setup = await setUpChatbot(database());
    await openHandoff(setup);
    await frontEvent(setup, archive('end-1#1'));
    await setup.frontClient.message({ id: 'msg_after', channelId: CHATBOT_CHANNEL_ID, text: 'one more thing', to: ['end-1#1'] });
    await setup.pass(setup.channel);
    expect(setup.rapidpro.sent()).toEqual([]);
  });
});
