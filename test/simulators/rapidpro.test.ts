import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startRapidProSimulator, type RapidProContact, type RapidProSimulator } from '../../src/simulators/rapidpro.ts';

let sim: RapidProSimulator;
let client: RapidProContact;
beforeEach(async () => {
  sim = await startRapidProSimulator();
  client = sim.addContact({ urn: 'whatsapp:254711000001', name: 'Amani' });
});
afterEach(() => sim.close());

const api = (path: string, init: { method?: string; body?: unknown; token?: string | null } = {}) => {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const token = init.token === undefined ? sim.token : init.token;
  if (token !== null) headers.authorization = `Token ${token}`;
  const url = path.startsWith('http') ? path : `${sim.url}/api/v2/${path}`;
  return fetch(url, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
};
const send = (text: string, contact = client.uuid) => api('messages.json', { body: { contact, text } });
type Page = { next: string | null; previous: null; results: Record<string, unknown>[] };
const list = async (query: string): Promise<Page> => {
  const response = await api(`messages.json${query}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Page;
};

describe('auth', () => {
  it('answers 403 to a missing or wrong token, as RapidPro does, and sends nothing', async () => {
    const missing = await api('messages.json', { body: { contact: client.uuid, text: 'hi' }, token: null });
    expect(missing.status).toBe(403);
    expect(await missing.json()).toEqual({ detail: 'Authentication credentials were not provided.' });
    for (const headers of [{ authorization: 'Token nope' }, { authorization: `Bearer ${sim.token}` }]) {
      const wrong = await fetch(`${sim.url}/api/v2/messages.json`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' });
      expect(wrong.status).toBe(403);
      expect(await wrong.json()).toEqual({ detail: 'Invalid token' });
    }
    expect(sim.sent()).toEqual([]);
    expect(sim.requests).toHaveLength(3);
    expect(sim.usage.requests).toBe(0);
  });

  it('serves only the .json API paths', async () => {
    expect((await api('messages')).status).toBe(404);
    expect((await api('nothing.json')).status).toBe(404);
    expect((await api('messages.json', { method: 'DELETE' })).status).toBe(405);
  });
});

describe('POST messages.json', () => {
  it('sends one message to a contact and answers 201 with it, queued', async () => {
    const response = await api('messages.json', { body: { contact: client.uuid, text: 'Hello from Wanjiru', quick_replies: [{ text: 'Yes' }, 'No'] } });
    expect(response.status).toBe(201);
    const message = (await response.json()) as Record<string, unknown>;
    expect(message).toMatchObject({
      contact: { uuid: client.uuid, name: 'Amani' },
      urn: 'whatsapp:254711000001',
      direction: 'out',
      type: 'text',
      status: 'queued',
      visibility: 'visible',
      text: 'Hello from Wanjiru',
      quick_replies: [{ text: 'Yes' }, { text: 'No' }],
      sent_on: null,
    });
    expect(message.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(message.created_on).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(sim.sent().map((m) => [m.uuid, m.text])).toEqual([[message.uuid, 'Hello from Wanjiru']]);
  });

  it('refuses bad sends with RapidPro field errors and creates nothing', async () => {
    const cases: [unknown, Record<string, unknown>][] = [
      [{ text: 'hi' }, { contact: ['This field is required.'] }],
      [{ contact: 'f0000000-0000-4000-8000-000000000000', text: 'hi' }, { contact: ['No such object: f0000000-0000-4000-8000-000000000000'] }],
      [{ contact: client.uuid }, { non_field_errors: ['Must provide either text or attachments.'] }],
      [{ contact: client.uuid, text: 'x'.repeat(4097) }, { text: ['Ensure this field has no more than 4096 characters.'] }],
      [{ contact: client.uuid, text: 'hi', quick_replies: Array(11).fill('a') }, { quick_replies: ['Ensure this field has no more than 10 elements.'] }],
      [[1, 2], { detail: 'JSON parse error - expected an object' }],
    ];
    for (const [body, error] of cases) {
      const response = await api('messages.json', { body });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual(error);
    }
    const broken = await fetch(`${sim.url}/api/v2/messages.json`, { method: 'POST', headers: { authorization: `Token ${sim.token}` }, body: '{"contact":' });
    expect(broken.status).toBe(400);
    expect(sim.sent()).toEqual([]);
  });
});

describe('GET messages.json', () => {
  it('lists newest first in pages linked by next cursors, keeping the filters', async () => {
    sim.pageSize = 2;
    const other = sim.addContact({ urn: 'telegram:4455' });
    for (const text of ['one', 'two', 'three', 'four', 'five']) expect((await send(text)).status).toBe(201);
    await send('elsewhere', other.uuid);
    sim.clientSays(client.uuid, 'hello?');

    const texts: string[] = [];
    let page = await list(`?contact=${client.uuid}`);
    expect(page.previous).toBeNull();
    const pages = [page];
    while (page.next) {
      const next = new URL(page.next);
      expect(next.searchParams.get('contact')).toBe(client.uuid);
      expect(next.searchParams.get('cursor')).toMatch(/^[A-Za-z0-9+/=]+$/);
      page = (await (await api(page.next)).json()) as Page;
      pages.push(page);
    }
    for (const p of pages) texts.push(...p.results.map((m) => m.text as string));
    expect(pages.map((p) => p.results.length)).toEqual([2, 2, 2]);
    expect(texts).toEqual(['hello?', 'five', 'four', 'three', 'two', 'one']);
  });

  it('filters by folder, uuid, before and after (inclusive), and refuses what RapidPro refuses', async () => {
    let clock = Date.parse('2026-03-01T10:00:00Z');
    await sim.close();
    sim = await startRapidProSimulator({ now: () => clock });
    client = sim.addContact({ urn: 'tel:+254711000002' });
    const flow = sim.addFlow('Registration');
    const a = (await (await send('a')).json()) as { uuid: string; id: number };
    clock += 60_000;
    const b = (await (await send('b')).json()) as { uuid: string };
    clock += 60_000;
    sim.clientSays(client.uuid, 'in the inbox');
    sim.clientSays(client.uuid, 'answered a flow', { flow: flow.uuid });
    sim.advance(a.uuid, 'delivered');
    sim.advance(b.uuid, 'failed');

    const texts = async (query: string) => (await list(query)).results.map((m) => m.text);
    expect(await texts('?folder=sent')).toEqual(['a']);
    expect(await texts('?folder=failed')).toEqual(['b']);
    expect(await texts('?folder=outbox')).toEqual([]);
    expect(await texts('?folder=inbox')).toEqual(['in the inbox']);
    expect(await texts('?folder=flows')).toEqual(['answered a flow']);
    expect(await texts('?folder=nonsense')).toEqual([]);
    expect(await texts(`?uuid=${a.uuid}`)).toEqual(['a']);
    expect(await texts(`?id=${a.id}`)).toEqual(['a']);
    expect(await texts('?after=2026-03-01T10:01:00.000000Z')).toEqual(['answered a flow', 'in the inbox', 'b']);
    expect(await texts('?before=2026-03-01T10:01:00.000000Z')).toEqual(['b', 'a']);
    expect(await texts('?before=yesterday')).toEqual([]);

    for (const [query, detail] of [
      [`?contact=${client.uuid}&folder=inbox`, 'You may only specify one of the contact, folder, label, broadcast parameters'],
      ['?uuid=not-a-uuid', "Param 'uuid': not-a-uuid is not a valid UUID."],
      ['?id=x', 'Value for id must be an integer'],
    ] as const) {
      const response = await api(`messages.json${query}`);
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ detail });
    }
    const badCursor = await api('messages.json?cursor=bm9wZQ==');
    expect(badCursor.status).toBe(404);
    expect(await badCursor.json()).toEqual({ detail: 'Invalid cursor' });
  });
});

describe('message status', () => {
  it('moves queued → wired → sent → delivered on demand, setting sent_on; final statuses stay', async () => {
    const { uuid } = (await (await send('hi')).json()) as { uuid: string };
    const seen = [sim.message(uuid)!.status];
    for (let i = 0; i < 4; i++) seen.push(sim.advance(uuid).status);
    expect(seen).toEqual(['queued', 'wired', 'sent', 'delivered', 'delivered']);
    const [listed] = (await list(`?uuid=${uuid}`)).results;
    expect(listed).toMatchObject({ status: 'delivered', sent_on: expect.stringMatching(/Z$/) });
    expect(sim.advance(uuid, 'read').status).toBe('read');
  });

  it('goes errored → failed for failing contacts and at the failure rate', async () => {
    sim.failingContacts.add(client.uuid);
    const { uuid } = (await (await send('hi')).json()) as { uuid: string };
    expect([sim.advance(uuid).status, sim.advance(uuid).status, sim.advance(uuid).status]).toEqual(['errored', 'failed', 'failed']);
    expect(sim.message(uuid)!.sent_on).toBeNull();

    const other = sim.addContact({ urn: 'tel:+254711000003' });
    sim.failureRate = 1;
    const second = (await (await send('hi', other.uuid)).json()) as { uuid: string };
    expect(sim.advanceAll()).toBe(1);
    expect(sim.message(second.uuid)!.status).toBe('errored');
  });

  it('progresses over time with autoProgressMs', async () => {
    sim.autoProgressMs = 5;
    const { uuid } = (await (await send('hi')).json()) as { uuid: string };
    await vi.waitFor(() => expect(sim.message(uuid)!.status).toBe('delivered'), { timeout: 5_000, interval: 5 });
    sim.autoProgressMs = null;
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After beyond the per-second budget and counts both', async () => {
    let clock = 1_000_000;
    await sim.close();
    sim = await startRapidProSimulator({ rateLimit: { requests: 3, per: 'second' }, now: () => clock });
    for (let i = 0; i < 3; i++) expect((await api('messages.json')).status).toBe(200);
    const refused = await api('messages.json');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toEqual({ detail: 'Request was throttled. Expected available in 1 seconds.' });
    // Another scope has its own bucket, as in RapidPro.
    expect((await api('contacts.json')).status).toBe(200);
    clock += 1_000;
    expect((await api('messages.json')).status).toBe(200);
    expect(sim.usage).toEqual({ requests: 6, throttled: 1, byScope: { 'v2.messages': { requests: 5, throttled: 1 }, 'v2.contacts': { requests: 1, throttled: 0 } } });
  });

  it('tells how long until the hourly bucket has room', async () => {
    let clock = 0;
    await sim.close();
    sim = await startRapidProSimulator({ rateLimit: { requests: 2, per: 'hour' }, now: () => clock });
    expect((await api('groups.json')).status).toBe(200);
    clock = 600_000;
    expect((await api('flows.json')).status).toBe(200);
    clock = 1_200_000;
    const refused = await api('groups.json');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('2400');
    clock = 3_600_000;
    expect((await api('groups.json')).status).toBe(200);
  });
});

describe('faults', () => {
  it('a lost response leaves the message sent, and the list finds it for reconciliation', async () => {
    sim.faultsFor('messages').script.push({ kind: 'lost-response' });
    await expect(send('did this go?')).rejects.toThrow();
    expect(sim.sent().map((m) => m.text)).toEqual(['did this go?']);
    const { results } = await list(`?contact=${client.uuid}`);
    expect(results.map((m) => m.text)).toEqual(['did this go?']);
  });

  it('injects 5xx and hangs per endpoint, leaving other endpoints alone', async () => {
    sim.faultsFor('messages').script.push({ kind: 'status', status: 502 }, { kind: 'timeout' });
    expect((await send('first')).status).toBe(502);
    await expect(fetch(`${sim.url}/api/v2/messages.json`, { headers: { authorization: `Token ${sim.token}` }, signal: AbortSignal.timeout(200) })).rejects.toThrow();
    expect((await api('contacts.json')).status).toBe(200);
    expect((await send('third')).status).toBe(201);
    expect(sim.sent().map((m) => m.text)).toEqual(['third']);
    expect(sim.faultsFor('messages').injected).toMatchObject({ status: 1, timeout: 1 });
  });

  it('injects errors at a rate across every endpoint', async () => {
    sim.faults.rate = 1;
    sim.faults.kinds = [{ kind: 'status', status: 503 }];
    expect((await api('groups.json')).status).toBe(503);
    expect((await send('x')).status).toBe(503);
    expect(sim.sent()).toEqual([]);
  });
});

describe('contacts, groups and contact actions', () => {
  it('finds contacts by uuid and urn', async () => {
    sim.addContact({ urn: 'tel:+254711000009' });
    const byUuid = (await (await api(`contacts.json?uuid=${client.uuid}`)).json()) as Page;
    expect(byUuid.results).toEqual([expect.objectContaining({ uuid: client.uuid, urns: ['whatsapp:254711000001'], name: 'Amani' })]);
    const byUrn = (await (await api('contacts.json?urn=whatsapp:254711000001')).json()) as Page;
    expect(byUrn.results.map((c) => c.uuid)).toEqual([client.uuid]);
    expect(((await (await api('contacts.json?urn=tel:+1')).json()) as Page).results).toEqual([]);
  });

  it('creates groups, adds and removes contacts, and interrupts runs', async () => {
    const created = await api('groups.json', { body: { name: 'Handed off' } });
    expect(created.status).toBe(201);
    const group = (await created.json()) as { uuid: string; name: string };
    expect((await api('groups.json', { body: { name: 'Handed off' } })).status).toBe(400);

    const add = await api('contact_actions.json', { body: { contacts: [client.uuid], action: 'add', group: group.uuid } });
    expect(add.status).toBe(204);
    expect(sim.members(group.uuid)).toEqual([client.uuid]);
    const members = (await (await api(`contacts.json?group=${group.uuid}`)).json()) as Page;
    expect(members.results.map((c) => c.uuid)).toEqual([client.uuid]);
    const listed = (await (await api('groups.json?name=Handed%20off')).json()) as Page;
    expect(listed.results).toEqual([expect.objectContaining({ uuid: group.uuid, count: 1 })]);

    // By name and URN, as RapidPro accepts.
    expect((await api('contact_actions.json', { body: { contacts: ['whatsapp:254711000001'], action: 'remove', group: 'Handed off' } })).status).toBe(204);
    expect(sim.members(group.uuid)).toEqual([]);
    expect(sim.contact(client.uuid)!.groups).toEqual([]);

    const flow = sim.addFlow('Welcome');
    await api('flow_starts.json', { body: { flow: flow.uuid, contacts: [client.uuid] } });
    expect(sim.contact(client.uuid)!.flow).toEqual({ uuid: flow.uuid, name: 'Welcome' });
    expect((await api('contact_actions.json', { body: { contacts: [client.uuid], action: 'interrupt' } })).status).toBe(204);
    expect(sim.interrupted).toEqual([client.uuid]);
    expect(sim.contact(client.uuid)!.flow).toBeNull();
  });

  it('refuses bad contact actions', async () => {
    const group = sim.addGroup('G');
    const cases: [unknown, Record<string, unknown>][] = [
      [{ action: 'add', group: group.uuid }, { contacts: ['This field is required.'] }],
      [{ contacts: [], action: 'interrupt' }, { contacts: ["Contacts can't be empty."] }],
      [{ contacts: ['tel:+19999'], action: 'interrupt' }, { contacts: ['No such object: tel:+19999'] }],
      [{ contacts: [client.uuid], action: 'explode' }, { action: ['"explode" is not a valid choice.'] }],
      [{ contacts: [client.uuid], action: 'add' }, { non_field_errors: ['For action "add" you should also specify a group'] }],
      [{ contacts: [client.uuid], action: 'interrupt', group: group.uuid }, { non_field_errors: ['For action "interrupt" you should not specify a group'] }],
      [{ contacts: [client.uuid], action: 'add', group: 'Nope' }, { group: ['No such object: Nope'] }],
    ];
    for (const [body, error] of cases) {
      const response = await api('contact_actions.json', { body });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual(error);
    }
    await api('contact_actions.json', { body: { contacts: [client.uuid], action: 'block' } });
    const blocked = await api('contact_actions.json', { body: { contacts: [client.uuid], action: 'add', group: group.uuid } });
    expect(await blocked.json()).toEqual({ non_field_errors: [`Non-active contacts cannot be added to groups: ${client.uuid}`] });
    expect(sim.members(group.uuid)).toEqual([]);
    expect(sim.interrupted).toEqual([]);
  });
});

describe('flow starts', () => {
  it('starts contacts and URNs in a flow, answering 201 with a pending start', async () => {
    const flow = sim.addFlow('Chat closed');
    const response = await api('flow_starts.json', { body: { flow: flow.uuid, contacts: [client.uuid], urns: ['telegram:777'], params: { reason: 'counsellor' } } });
    expect(response.status).toBe(201);
    const start = (await response.json()) as Record<string, unknown>;
    expect(start).toMatchObject({
      flow: { uuid: flow.uuid, name: 'Chat closed' },
      status: 'pending',
      contacts: [{ uuid: client.uuid, name: 'Amani' }, { uuid: sim.contact('telegram:777')!.uuid, name: null }],
      restart_participants: true,
      exclude_active: false,
      params: { reason: 'counsellor' },
      extra: { reason: 'counsellor' },
    });
    expect(sim.flowStarts().map((s) => s.uuid)).toEqual([start.uuid]);
    sim.advanceAll();
    const listed = (await (await api(`flow_starts.json?uuid=${String(start.uuid)}`)).json()) as Page;
    expect(listed.results).toEqual([expect.objectContaining({ uuid: start.uuid, status: 'queued' })]);
  });

  it('refuses unknown flows, missing recipients and bad params', async () => {
    const flow = sim.addFlow('F');
    const cases: [unknown, Record<string, unknown>][] = [
      [{ contacts: [client.uuid] }, { flow: ['This field is required.'] }],
      [{ flow: 'f0000000-0000-4000-8000-000000000000', contacts: [client.uuid] }, { flow: ['No such object: f0000000-0000-4000-8000-000000000000'] }],
      [{ flow: flow.uuid }, { non_field_errors: ['Must specify at least one group, contact or URN'] }],
      [{ flow: flow.uuid, contacts: [client.uuid], params: [1] }, { params: ['Must be a valid JSON object'] }],
      [{ flow: flow.uuid, contacts: Array(101).fill(client.uuid) }, { contacts: ['Ensure this field has no more than 100 elements.'] }],
    ];
    for (const [body, error] of cases) {
      const response = await api('flow_starts.json', { body });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual(error);
    }
    expect(sim.flowStarts()).toEqual([]);
  });
});

describe('Weni variant', () => {
  it('has no POST messages.json; broadcasts send, and messages show ids without uuids', async () => {
    await sim.close();
    sim = await startRapidProSimulator({ variant: 'weni' });
    client = sim.addContact({ urn: 'telegram:12345' });
    const refused = await send('hi');
    expect(refused.status).toBe(405);
    expect(await refused.json()).toEqual({ detail: 'Method "POST" not allowed.' });
    expect((await api('broadcasts.json', { body: { contacts: [client.uuid], text: 'x'.repeat(641) } })).status).toBe(400);

    const response = await api('broadcasts.json', { body: { contacts: [client.uuid], text: 'Hello from Wanjiru' } });
    expect(response.status).toBe(201);
    const broadcast = (await response.json()) as { id: number; text: Record<string, string> };
    expect(broadcast.text).toEqual({ eng: 'Hello from Wanjiru' });
    const { results } = await list(`?broadcast=${broadcast.id}`);
    expect(results).toEqual([expect.objectContaining({ broadcast: broadcast.id, text: 'Hello from Wanjiru', status: 'queued', type: 'inbox' })]);
    expect(results[0]).not.toHaveProperty('uuid');
    // Weni ignores a uuid filter: every message matches. It filters by urn instead.
    sim.clientSays(client.uuid, 'hello');
    expect((await list('?uuid=0199bb98-3637-778d-9dfc-0ab85c950d7c')).results).toHaveLength(2);
    expect((await list('?urn=telegram:12345')).results).toHaveLength(2);
    expect((await list('?urn=telegram:1')).results).toHaveLength(0);
    expect(sim.scopeLimits).toEqual({ 'v2.broadcasts': { requests: 36_000, per: 'hour' } });
  });
});

/** A tiny fake of Switchboard's chatbot-facing API: it issues tokens, can expire them, and records requests. */
async function startFakeChatbotApi() {
  const received: { method: string; path: string; headers: IncomingHttpHeaders; body: unknown }[] = [];
  const state = { token: 'tok-1', issued: 0, hang: false, status: 200, script: [] as { status: number; retryAfter?: string }[] };
  const hanging: ServerResponse[] = [];
  const server = createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const path = (req.url ?? '').replace(/^\/v1\/chatbot\/abc\//, '');
    const body = raw === '' ? null : (JSON.parse(raw) as Record<string, unknown>);
    received.push({ method: req.method ?? '', path, headers: req.headers, body });
    const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    if (path === 'token/') {
      if (body?.username !== 'bot' || body?.password !== 'pw') return json(401, { error: 'invalid credentials' });
      state.issued++;
      return json(200, { token: state.token, expires_at: '2026-12-01T00:00:00Z' });
    }
    if (req.headers.authorization !== `Token ${state.token}`) return json(401, { error: 'invalid token' });
    if (state.hang) return void hanging.push(res);
    const next = state.script.shift();
    if (next?.retryAfter !== undefined) res.setHeader('retry-after', next.retryAfter);
    json(next?.status ?? state.status, { ok: true });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chatbot/abc/`;
  const close = async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { base, received, state, close };
}

describe('the bot', () => {
  let fake: Awaited<ReturnType<typeof startFakeChatbotApi>>;
  beforeEach(async () => {
    fake = await startFakeChatbotApi();
  });
  afterEach(() => fake.close());

  it('gets a token, posts the client message with the seed fields, and records it in the workspace', async () => {
    const bot = sim.bot({ apiBaseUrl: fake.base, username: 'bot', password: 'pw' });
    const { message, call } = await bot.say({ contact: client.uuid, text: 'I need to talk to someone', session: 's-1', pseudonym: 'Blue Heron' });
    expect(call).toMatchObject({ outcome: 'answered', status: 200, response: { ok: true } });
    expect(fake.received.map((r) => `${r.method} ${r.path}`)).toEqual(['POST token/', 'POST chat/']);
    const chat = fake.received[1]!;
    expect(chat.headers.authorization).toBe('Token tok-1');
    expect(chat.headers['user-agent']).toMatch(/^Mailroom\//);
    expect(chat.body).toEqual({
      chat_sender: client.uuid,
      chat_receiver: 'helpline',
      chat_message: 'I need to talk to someone',
      chat_session: 's-1',
      chat_source: 'WENI',
      message_id: message.uuid,
      contact: client.uuid,
      pseudonym: 'Blue Heron',
    });
    expect(message).toMatchObject({ direction: 'in', status: 'handled', text: 'I need to talk to someone' });
    const { results } = await list('?folder=flows');
    expect(results.map((m) => m.uuid)).toEqual([message.uuid]);
  });

  it('fetches a new token once on 401 and repeats the call', async () => {
    const bot = sim.bot({ apiBaseUrl: fake.base, username: 'bot', password: 'pw' });
    await bot.token();
    fake.state.token = 'tok-2';
    const call = await bot.close('s-1');
    expect(call).toMatchObject({ outcome: 'answered', status: 200 });
    expect(bot.apiToken).toBe('tok-2');
    expect(fake.received.map((r) => `${r.method} ${r.path}`)).toEqual(['POST token/', 'POST chat/s-1/close/', 'POST token/', 'POST chat/s-1/close/']);
    expect(fake.received[3]!.body).toEqual({ chat_source: 'WENI' });
  });

  it('acks and lists chats', async () => {
    const bot = sim.bot({ apiBaseUrl: fake.base, username: 'bot', password: 'pw', source: 'RAPIDPRO' });
    expect((await bot.ack('s-9', 'msg_1', 'read')).status).toBe(200);
    expect((await bot.listChats()).status).toBe(200);
    expect(fake.received.slice(1).map((r) => [r.method, r.path, r.body])).toEqual([
      ['POST', 'chat/s-9/ack/', { message_id: 'msg_1', status: 'read' }],
      ['GET', 'chat/', null],
    ]);
  });

  it('throws when the credentials are refused', async () => {
    const bot = sim.bot({ apiBaseUrl: fake.base, username: 'bot', password: 'wrong' });
    await expect(bot.token()).rejects.toThrow(/401/);
    expect(bot.apiToken).toBeNull();
  });

  it('never retries: a 500, a timeout and a dropped call are each lost, but the message stays in the workspace', async () => {
    const bot = sim.bot({ apiBaseUrl: fake.base, username: 'bot', password: 'pw', timeoutMs: 200 });
    await bot.token();
    fake.state.status = 500;
    const failed = await bot.say({ contact: client.uuid, text: 'one', session: 's' });
    expect(failed.call).toMatchObject({ outcome: 'answered', status: 500 });
    fake.state.status = 200;
    fake.state.hang = true;
    const timedOut = await bot.say({ contact: client.uuid, text: 'two', session: 's' });
    expect(timedOut.call).toMatchObject({ outcome: 'timeout', status: null });
    fake.state.hang = false;
    bot.dropNext = 1;
    const dropped = await bot.say({ contact: client.uuid, text: 'three', session: 's' });
    expect(dropped.call.outcome).toBe('dropped');
    expect(fake.received.filter((r) => r.path === 'chat/').map((r) => (r.body as { chat_message: string }).chat_message)).toEqual(['one', 'two']);
    expect(bot.calls.map((c) => c.outcome)).toEqual(['answered', 'answered', 'timeout', 'dropped']);
    const { results } = await list(`?contact=${client.uuid}`);
    expect(results.map((m) => m.text)).toEqual(['three', 'two', 'one']);
  });

  it('drops the configured fraction of webhook calls', async () => {
    const bot = sim.bot({ apiBaseUrl: fake.base, username: 'bot', password: 'pw', dropRate: 0.5, random: (() => { let i = 0; return () => (i++ % 2 === 0 ? 0.9 : 0.1); })() });
    for (const text of ['a', 'b', 'c', 'd']) await bot.say({ contact: client.uuid, text, session: 's' });
    expect(bot.calls.filter((c) => c.path === 'chat/').map((c) => c.outcome)).toEqual(['answered', 'dropped', 'answered', 'dropped']);
  });

  it("retries under Weni's rule only: an Idempotency-Key call on a 502 and a short Retry-After, never a plain 500", async () => {
    const bot = sim.bot({ apiBaseUrl: fake.base, username: 'bot', password: 'pw', retries: 'weni', idempotencyKey: true, retryBackoffMs: [10, 20] });
    fake.state.script.push({ status: 502 }, { status: 200 });
    const { message, call } = await bot.say({ contact: client.uuid, text: 'again', session: 's' });
    expect(call).toMatchObject({ outcome: 'answered', status: 200, attempt: 1 });
    const chats = fake.received.filter((r) => r.path === 'chat/');
    expect(chats.map((r) => r.headers['idempotency-key'])).toEqual([message.uuid, message.uuid]);

    const plain = sim.bot({ apiBaseUrl: fake.base, username: 'bot', password: 'pw', retries: 'weni', retryBackoffMs: [10, 20] });
    fake.state.script.push({ status: 502 }, { status: 429, retryAfter: '0' }, { status: 200 }, { status: 429, retryAfter: '60' });
    expect((await plain.say({ contact: client.uuid, text: 'a', session: 's' })).call).toMatchObject({ status: 502, attempt: 0 });
    expect((await plain.say({ contact: client.uuid, text: 'b', session: 's' })).call).toMatchObject({ status: 200, attempt: 1 });
    expect((await plain.say({ contact: client.uuid, text: 'c', session: 's' })).call).toMatchObject({ status: 429, attempt: 0 });
    expect(fake.received.filter((r) => r.path === 'chat/')).toHaveLength(6);
  });

  it('is fire-and-forget by default, even for an Idempotency-Key call', async () => {
    const bot = sim.bot({ apiBaseUrl: fake.base, username: 'bot', password: 'pw', idempotencyKey: true });
    fake.state.script.push({ status: 503 }, { status: 429, retryAfter: '0' });
    expect((await bot.say({ contact: client.uuid, text: 'a', session: 's' })).call.status).toBe(503);
    expect((await bot.say({ contact: client.uuid, text: 'b', session: 's' })).call.status).toBe(429);
    expect(fake.received.filter((r) => r.path === 'chat/')).toHaveLength(2);
  });
});
