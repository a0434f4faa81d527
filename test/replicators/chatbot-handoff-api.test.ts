/**
 * The chatbot-facing API of `chatbot_handoff_v1` (issue 17, item 1), over real HTTP:
 * credentials issued once and stored hashed, tokens, client messages stored raw before
 * the answer, repeats stored once and answered alike, handoffs numbered per session, and
 * every refusal a 4xx JSON error naming what is wrong.
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { setUpChatbot, type ChatbotSetup } from '../helpers/chatbot.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
let setup: ChatbotSetup | undefined;
afterEach(async () => {
  await setup?.close();
  setup = undefined;
});

const CONTACT = '5b1c2d3e-0000-4000-8000-00000000c0de';
const message = (overrides: Record<string, unknown> = {}) => ({
  chat_sender: 'sender-1',
  chat_receiver: 'helpline',
  chat_message: 'I need to talk to someone',
  chat_session: 'e32434511',
  chat_source: 'WENI',
  contact: CONTACT,
  ...overrides,
});

describe('integrations create chatbot_handoff_v1', () => {
  it('prints api_base_url and issued credentials once, storing only a hash of the password', async () => {
    setup = await setUpChatbot(database());
    const { created } = setup;
    expect(created.api_base_url).toBe(`${setup.publicUrl}/v1/chatbot/${created.opaque_id}/`);
    expect(created.username).toMatch(/^bot_[0-9a-f]{12}$/);
    expect(created.password).toMatch(/^[\w-]{24}$/);
    const stored = JSON.stringify((await setup.engine.db.selectFrom('service_integrations').select('settings').where('id', '=', created.id).executeTakeFirstOrThrow()).settings);
    expect(stored).not.toContain(created.password);
    expect(stored).toMatch(/"password_hash":"scrypt\$/);
    const info = await setup.cli('integrations', 'info', String(created.id), '--json');
    expect(info.json()).toMatchObject({ api_base_url: created.api_base_url });
    expect(info.stdout).not.toContain(created.password);
    expect(info.stdout).not.toContain(setup.rapidpro.token);
  });

  it('issues nothing when --username and --password are given, and those sign in', async () => {
    setup = await setUpChatbot(database(), ['--username', 'weni', '--password', 'a long enough secret']);
    expect(setup.created).not.toHaveProperty('password');
    expect(setup.created).not.toHaveProperty('username');
    const answer = await setup.call('POST', 'token/', { json: { username: 'weni', password: 'a long enough secret' } });
    expect(answer.status).toBe(200);
  });

  it('refuses a short password and a RapidPro URL that is no URL', async () => {
    setup = await setUpChatbot(database());
    const short = await setup.cli('integrations', 'create', 'chatbot_handoff_v1', '--rapidpro-url', 'https://rp.example.org', '--rapidpro-token', 't', '--password', 'short');
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain('--password: at least 12 characters');
    const url = await setup.cli('integrations', 'create', 'chatbot_handoff_v1', '--rapidpro-url', 'rapidpro', '--rapidpro-token', 't');
    expect(url.stderr).toContain('--rapidpro-url');
  });
});

describe('POST token/', () => {
  it('answers a token and its expiry for the right credentials, 401 for wrong ones', async () => {
    setup = await setUpChatbot(database(), ['--token-ttl', '600']);
    const good = await setup.call('POST', 'token/', { json: { username: setup.created.username, password: setup.created.password } });
    expect(good.status).toBe(200);
    expect(good.body.token).toEqual(expect.any(String));
    const ttl = (Date.parse(good.body.expires_at) - Date.now()) / 1000;
    expect(ttl).toBeGreaterThan(500);
    expect(ttl).toBeLessThanOrEqual(600);
    const wrongPassword = await setup.call('POST', 'token/', { json: { username: setup.created.username, password: 'not the password' } });
    const wrongUser = await setup.call('POST', 'token/', { json: { username: 'someone', password: setup.created.password } });
    for (const answer of [wrongPassword, wrongUser]) {
      expect(answer.status).toBe(401);
      expect(answer.body.error).toMatchObject({ code: 'SB_ERR_UNAUTHORIZED' });
    }
    const missing = await setup.call('POST', 'token/', { json: { username: setup.created.username } });
    expect(missing).toMatchObject({ status: 422, body: { error: { message: 'password is required' } } });
  });

  it('never writes the password into the webhook log', async () => {
    setup = await setUpChatbot(database());
    await setup.token();
    await setup.call('POST', 'token/', { json: { username: setup.created.username, password: 'wrong password here' } });
    await new Promise((resolve) => setTimeout(resolve, 300)); // the log writes in batches
    const { rows } = await sql<{ body: string | null }>`SELECT body FROM webhook_log`.execute(setup.engine.db);
    expect(rows.map((r) => r.body ?? '').join()).not.toMatch(/password/);
  });
});

describe('authentication of chat/ requests', () => {
  it('refuses no token, a malformed header, an unknown token and an expired one with 401', async () => {
    setup = await setUpChatbot(database());
    const token = await setup.token();
    await sql`UPDATE chatbot_tokens SET expires_at = now() - interval '1 second'`.execute(setup.engine.db);
    const answers = [
      await setup.call('POST', 'chat/', { json: message() }),
      await setup.call('GET', 'chat/', { token: null }),
      await setup.call('POST', 'chat/', { json: message(), token: 'nonsense' }),
      await setup.call('POST', 'chat/', { json: message(), token }),
    ];
    for (const answer of answers) expect(answer).toMatchObject({ status: 401, body: { error: { code: 'SB_ERR_UNAUTHORIZED' } } });
    expect(await setup.requests()).toEqual([]);
  });

  it('answers 404 for an integration that does not exist', async () => {
    setup = await setUpChatbot(database());
    const response = await fetch(`${setup.publicUrl}/v1/chatbot/svi_nothere/chat/`, { method: 'GET' });
    expect(response.status).toBe(404);
  });
});

describe('POST chat/', () => {
  it('stores the raw request, opens handoff 1 with its contact and answers 200', async () => {
    setup = await setUpChatbot(database());
    const token = await setup.token();
    const answer = await setup.call('POST', 'chat/', { json: message({ message_id: 'm-1', pseudonym: 'Blue Fish' }), token });
    expect(answer).toEqual({
      status: 200,
      body: { status: 'received', chat_session: 'e32434511', handoff: 1, conversation_id: 'e32434511#1', message_id: 'm-1', opened: true },
    });
    const [row] = await setup.requests();
    expect(row).toMatchObject({ kind: 'chat', chat_session: 'e32434511', handoff: 1, message_id: 'm-1', contact: CONTACT, pseudonym: 'Blue Fish', body: 'I need to talk to someone', response_status: 200 });
    expect(JSON.parse(row!.data.raw_body)).toEqual(message({ message_id: 'm-1', pseudonym: 'Blue Fish' }));
    expect(await setup.handoffs()).toMatchObject([{ chat_session: 'e32434511', handoff: 1, contact: CONTACT, status: 'open' }]);
  });

  it('stores a message repeated with its message_id once and answers each repeat like the first', async () => {
    setup = await setUpChatbot(database());
    const token = await setup.token();
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await setup.call('POST', 'chat/', { json: message({ message_id: 'm-again' }), token }));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers[1]!.body).toEqual(answers[0]!.body);
    expect(answers[2]!.body).toEqual(answers[0]!.body);
    expect(await setup.requests()).toHaveLength(1);
  });

  it('treats the same session and body without message_id as a repeat within the window, and as new after it', async () => {
    setup = await setUpChatbot(database());
    const token = await setup.token();
    const first = await setup.call('POST', 'chat/', { json: message(), token });
    const again = await setup.call('POST', 'chat/', { json: message(), token });
    expect(again).toEqual(first);
    const other = await setup.call('POST', 'chat/', { json: message({ chat_message: 'something else' }), token });
    expect(other.status).toBe(200);
    expect(await setup.requests()).toHaveLength(2);
    await sql`UPDATE chatbot_handoff_v1 SET row_created_at = now() - interval '10 minutes'`.execute(setup.engine.db);
    await setup.call('POST', 'chat/', { json: message(), token });
    expect((await setup.requests()).map((r) => r.body)).toEqual(['I need to talk to someone', 'something else', 'I need to talk to someone']);
  });

  it('stores concurrent copies of one message once', async () => {
    setup = await setUpChatbot(database());
    const token = await setup.token();
    const answers = await Promise.all(Array.from({ length: 5 }, () => setup!.call('POST', 'chat/', { json: message(), token })));
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(await setup.requests()).toHaveLength(1);
    expect(await setup.handoffs()).toHaveLength(1);
  });

  it('refuses missing and malformed fields with a 422 naming the field, and a malformed body with 400, storing nothing', async () => {
    setup = await setUpChatbot(database());
    const token = await setup.token();
    const cases: [Record<string, unknown>, string][] = [
      [message({ chat_session: undefined }), 'chat_session is required'],
      [message({ chat_message: '' }), 'chat_message is required'],
      [message({ chat_sender: undefined }), 'chat_sender is required'],
      [message({ message_id: { nested: true } }), 'message_id must be a string'],
      [message({ contact: undefined }), "contact is required on a session's first message"],
      [message({ chat_message: 'x'.repeat(10_001) }), 'chat_message is longer than 10000 characters'],
    ];
    for (const [body, text] of cases) {
      const answer = await setup.call('POST', 'chat/', { json: body, token });
      expect(answer.status).toBe(422);
      expect(answer.body.error.message).toContain(text);
    }
    expect(await setup.call('POST', 'chat/', { json: ['not', 'an', 'object'], token })).toMatchObject({ status: 422 });
    expect(await setup.call('POST', 'chat/', { text: '{"chat_session":', contentType: 'application/json', token })).toMatchObject({ status: 400, body: { error: { code: 'SB_ERR_BAD_REQUEST' } } });
    expect(await setup.requests()).toEqual([]);
    expect(await setup.handoffs()).toEqual([]);
  });

  it('accepts the seed\'s numeric sender and receiver, and a later message without contact', async () => {
    setup = await setUpChatbot(database());
    const token = await setup.token();
    await setup.call('POST', 'chat/', { json: message({ chat_sender: 23343411, chat_receiver: 233432311 }), token });
    const later = await setup.call('POST', 'chat/', { json: message({ chat_sender: 23343411, chat_message: 'still there?', contact: undefined }), token });
    expect(later).toMatchObject({ status: 200, body: { handoff: 1, opened: false } });
    expect((await setup.requests()).map((r) => r.pseudonym)).toEqual(['23343411', '23343411']);
  });
});

describe('POST chat/<session>/close/ and handoff numbers', () => {
  it('closes the handoff once, answers repeats alike, and a later message opens handoff 2 with the same contact', async () => {
    setup = await setUpChatbot(database());
    const token = await setup.token();
    await setup.call('POST', 'chat/', { json: message(), token });
    // The seed sends its close body as raw text.
    const close = await setup.call('POST', 'chat/e32434511/close/', { text: '{\n    "chat_source":"WENI"\n}', token });
    expect(close).toEqual({ status: 200, body: { status: 'closed', chat_session: 'e32434511', handoff: 1, conversation_id: 'e32434511#1', closed_by: 'bot' } });
    expect(await setup.call('POST', 'chat/e32434511/close/', { token })).toEqual(close);
    const closeRows = (await setup.requests()).filter((r) => r.kind === 'close');
    expect(closeRows).toHaveLength(1);
    expect(closeRows[0]!.data).toMatchObject({ raw_body: '{\n    "chat_source":"WENI"\n}', chat_source: 'WENI' });

    const again = await setup.call('POST', 'chat/', { json: message({ chat_message: 'me again', contact: undefined }), token });
    expect(again).toMatchObject({ status: 200, body: { handoff: 2, conversation_id: 'e32434511#2', opened: true } });
    expect((await setup.handoffs()).map((h) => [h.handoff, h.status, h.contact])).toEqual([
      [1, 'closed', CONTACT],
      [2, 'open', CONTACT],
    ]);
  });

  it('answers 404 for a session it never saw', async () => {
    setup = await setUpChatbot(database());
    const token = await setup.token();
    expect(await setup.call('POST', 'chat/nope/close/', { token })).toMatchObject({ status: 404, body: { error: { code: 'SB_ERR_NOT_FOUND' } } });
    expect(await setup.call('POST', 'chat/nope/ack/', { json: { message_id: 'x', status: 'read' }, token })).toMatchObject({ status: 404 });
  });
});

describe('POST chat/<session>/ack/ and GET chat/', () => {
  it('stores a receipt once per message and status, refusing unknown statuses', async () => {
    setup = await setUpChatbot(database());
    const token = await setup.token();
    await setup.call('POST', 'chat/', { json: message(), token });
    const ack = { message_id: 'rp-msg-1', status: 'delivered' };
    const first = await setup.call('POST', 'chat/e32434511/ack/', { json: ack, token });
    expect(first).toEqual({ status: 200, body: { status: 'received', chat_session: 'e32434511', message_id: 'rp-msg-1', ack: 'delivered' } });
    expect(await setup.call('POST', 'chat/e32434511/ack/', { json: ack, token })).toEqual(first);
    await setup.call('POST', 'chat/e32434511/ack/', { json: { ...ack, status: 'read' }, token });
    expect((await setup.requests()).filter((r) => r.kind === 'ack').map((r) => r.ack_status)).toEqual(['delivered', 'read']);
    const bad = await setup.call('POST', 'chat/e32434511/ack/', { json: { ...ack, status: 'seen' }, token });
    expect(bad).toMatchObject({ status: 422, body: { error: { message: 'status must be one of delivered, read, failed' } } });
    expect(await setup.call('POST', 'chat/e32434511/ack/', { json: { status: 'read' }, token })).toMatchObject({ status: 422, body: { error: { message: 'message_id is required' } } });
  });

  it('lists the handoffs with their state', async () => {
    setup = await setUpChatbot(database());
    const token = await setup.token();
    await setup.call('POST', 'chat/', { json: message(), token });
    await setup.call('POST', 'chat/', { json: message({ chat_session: 'other', chat_message: 'hi' }), token });
    await setup.call('POST', 'chat/other/close/', { token });
    const list = await setup.call('GET', 'chat/', { token });
    expect(list.status).toBe(200);
    const chats = list.body.chats.map((c: any) => [c.chat_session, c.handoff, c.status, c.conversation_id]);
    expect(chats).toEqual(expect.arrayContaining([
      ['e32434511', 1, 'open', 'e32434511#1'],
      ['other', 1, 'closed', 'other#1'],
    ]));
    expect(list.body.chats[0]).not.toHaveProperty('contact');
  });
});
