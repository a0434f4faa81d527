import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signFrontRequest, startFrontSimulator, type FrontSimulator } from '../../src/simulators/front.ts';

let sim: FrontSimulator;
const CHANNEL = 'cha_test';

beforeAll(async () => {
  sim = await startFrontSimulator({ appUid: 'app_uid_test', appSecret: 'app_secret_test' });
  sim.channels.add(CHANNEL);
});
afterAll(() => sim.close());
afterEach(() => {
  sim.faults.script = [];
});

interface TokenOptions {
  secret?: string;
  iss?: string;
  sub?: string;
  jti?: string | null;
  /** Seconds from now; null leaves `exp` out. */
  expIn?: number | null;
}

async function channelJwt({ secret = sim.appSecret, iss = sim.appUid, sub = CHANNEL, jti = randomUUID(), expIn = 20 }: TokenOptions = {}) {
  const claims: Record<string, string> = { iss, sub };
  if (jti !== null) claims.jti = jti;
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' });
  if (expIn !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expIn);
  return jwt.sign(new TextEncoder().encode(secret));
}

const inboundJson = {
  sender: { handle: '+15551230001', name: 'Customer' },
  body: 'hello from SMS',
  delivered_at: 1700000000,
  metadata: { external_id: 'SM123', external_conversation_id: '+15551230001' },
};

async function importJson(kind: 'inbound' | 'outbound', body: unknown, { channel = CHANNEL, token }: { channel?: string; token?: string | null } = {}) {
  const auth = token === undefined ? await channelJwt({ sub: channel }) : token;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (auth !== null) headers.authorization = `Bearer ${auth}`;
  return fetch(`${sim.url}/channels/${channel}/${kind}_messages`, { method: 'POST', headers, body: JSON.stringify(body) });
}

async function importForm(kind: 'inbound' | 'outbound', form: FormData) {
  return fetch(`${sim.url}/channels/${CHANNEL}/${kind}_messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await channelJwt()}` },
    body: form,
  });
}

async function expectFrontError(response: Response, status: number, message: RegExp) {
  expect(response.status).toBe(status);
  const body = (await response.json()) as { _error: { status: number; title: string; message: string } };
  expect(body._error.status).toBe(status);
  expect(body._error.message).toMatch(message);
}

describe('Channel API JWT', () => {
  it('accepts a token signed with the app secret, iss = app uid, sub = channel, exp within 30 s', async () => {
    const response = await importJson('inbound', inboundJson);
    expect(response.status).toBe(202);
    const body = (await response.json()) as { status: string; message_uid: string };
    expect(body.status).toBe('accepted');
    expect(body.message_uid).toMatch(/^uid_[0-9a-f]+$/);
    expect(sim.inbox.at(-1)?.messageUid).toBe(body.message_uid);
  });

  it.each<[string, TokenOptions | null, RegExp]>([
    ['a wrong secret', { secret: 'not_the_secret' }, /signature/],
    ['a wrong iss', { iss: 'app_other' }, /"iss"/],
    ['a wrong sub', { sub: 'cha_other' }, /"sub"/],
    ['an expired token', { expIn: -5 }, /"exp"/],
    ['exp more than 30 s ahead', { expIn: 60 }, /30 seconds/],
    ['no exp', { expIn: null }, /"exp"/],
    ['no jti', { jti: null }, /"jti"/],
    ['no Authorization header', null, /bearer/i],
  ])('rejects %s with 401 and stores nothing', async (_case, options, message) => {
    const before = sim.inbox.length;
    const token = options === null ? null : await channelJwt(options);
    await expectFrontError(await importJson('inbound', inboundJson, { token }), 401, message);
    expect(sim.inbox.length).toBe(before);
  });

  it('answers 404 for a channel it does not know, even with a valid token', async () => {
    await expectFrontError(await importJson('inbound', inboundJson, { channel: 'cha_unknown' }), 404, /Unknown channel/);
  });
});

describe('imports', () => {
  it('stores a JSON inbound message', async () => {
    expect((await importJson('inbound', inboundJson)).status).toBe(202);
    expect(sim.inbox.at(-1)).toMatchObject({
      channelId: CHANNEL,
      kind: 'inbound',
      senderHandle: '+15551230001',
      toHandles: [],
      body: 'hello from SMS',
      deliveredAt: 1700000000,
      externalId: 'SM123',
      externalConversationId: '+15551230001',
      attachments: [],
      contentType: 'application/json',
    });
  });

  it('stores a JSON outbound message with every recipient', async () => {
    const body = {
      to: [{ handle: '+15551230002' }, { handle: '+15551230003' }],
      body: 'bulk blast',
      metadata: { external_id: 'SM456', external_conversation_id: '+15551230002' },
    };
    expect((await importJson('outbound', body)).status).toBe(202);
    expect(sim.inbox.at(-1)).toMatchObject({ kind: 'outbound', senderHandle: null, toHandles: ['+15551230002', '+15551230003'], deliveredAt: null });
  });

  it('stores a multipart inbound message with its attachments', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]);
    const form = new FormData();
    form.append('sender[handle]', '+15551230004');
    form.append('body', 'photo attached');
    form.append('delivered_at', '1700000001');
    form.append('metadata[external_id]', 'MM789');
    form.append('metadata[external_conversation_id]', '+15551230004');
    form.append('attachments[0]', new Blob([png], { type: 'image/png' }), 'photo.png');
    form.append('attachments[1]', new Blob(['plain text'], { type: 'text/plain' }), 'note.txt');
    expect((await importForm('inbound', form)).status).toBe(202);
    const stored = sim.inbox.at(-1)!;
    expect(stored).toMatchObject({ kind: 'inbound', senderHandle: '+15551230004', body: 'photo attached', deliveredAt: 1700000001, externalId: 'MM789', contentType: 'multipart/form-data' });
    expect(stored.attachments.map((a) => [a.filename, a.contentType])).toEqual([
      ['photo.png', 'image/png'],
      ['note.txt', 'text/plain'],
    ]);
    expect(stored.attachments[0]!.bytes.equals(png)).toBe(true);
    expect(stored.attachments[1]!.bytes.toString()).toBe('plain text');
  });

  it('stores a multipart outbound message addressed with to[0][handle]', async () => {
    const form = new FormData();
    form.append('to[0][handle]', '+15551230005');
    form.append('body', 'sent outside Front');
    form.append('metadata[external_id]', 'SM999');
    form.append('metadata[external_conversation_id]', '+15551230005');
    expect((await importForm('outbound', form)).status).toBe(202);
    expect(sim.inbox.at(-1)).toMatchObject({ kind: 'outbound', toHandles: ['+15551230005'], body: 'sent outside Front', attachments: [] });
  });

  const metadata = { external_id: 'X1', external_conversation_id: 'C1' };
  it.each<[string, 'inbound' | 'outbound', unknown, RegExp]>([
    ['inbound without sender.handle', 'inbound', { body: 'x', metadata }, /sender\.handle/],
    ['outbound without to', 'outbound', { sender: { handle: '+1555' }, body: 'x', metadata }, /to\[0\]\.handle/],
    ['an empty body', 'inbound', { sender: { handle: '+1555' }, body: '', metadata }, /^body/],
    ['no metadata.external_id', 'inbound', { sender: { handle: '+1555' }, body: 'x', metadata: { external_conversation_id: 'C1' } }, /metadata\.external_id/],
    ['no metadata.external_conversation_id', 'outbound', { to: [{ handle: '+1555' }], body: 'x', metadata: { external_id: 'X1' } }, /metadata\.external_conversation_id/],
    ['a fractional delivered_at', 'inbound', { sender: { handle: '+1555' }, body: 'x', delivered_at: 1.5, metadata }, /delivered_at/],
  ])('rejects %s with 400 naming the field', async (_case, kind, body, message) => {
    const before = sim.inbox.length;
    await expectFrontError(await importJson(kind, body), 400, message);
    expect(sim.inbox.length).toBe(before);
  });

  it('rejects a body that is not JSON, and an unsupported content type, with 400', async () => {
    const authorization = `Bearer ${await channelJwt()}`;
    const post = (contentType: string, body: string) =>
      fetch(`${sim.url}/channels/${CHANNEL}/inbound_messages`, { method: 'POST', headers: { authorization, 'content-type': contentType }, body });
    await expectFrontError(await post('application/json', '{not json'), 400, /JSON/);
    await expectFrontError(await post('text/plain', 'hi'), 400, /content type/);
  });

  it('records every request with its raw body', async () => {
    const body = { ...inboundJson, metadata: { external_id: 'REC1', external_conversation_id: 'C' } };
    await importJson('inbound', body);
    const recorded = sim.requests.at(-1)!;
    expect(recorded).toMatchObject({ method: 'POST', path: `/channels/${CHANNEL}/inbound_messages` });
    expect(recorded.headers.authorization).toMatch(/^Bearer /);
    expect(JSON.parse(recorded.body.toString())).toEqual(body);
  });
});

describe('attachment downloads', () => {
  it('serves the bytes only to the owning channel JWT', async () => {
    sim.channels.add('cha_other');
    const bytes = Buffer.from('GIF89a-bytes');
    const attachment = sim.addAttachment(CHANNEL, { filename: 'a.gif', contentType: 'image/gif', bytes });
    expect(attachment.url).toBe(`${sim.url}/attachments/${attachment.id}`);
    const get = (token?: string) => fetch(attachment.url, { headers: token ? { authorization: `Bearer ${token}` } : {} });

    await expectFrontError(await get(), 401, /bearer/i);
    await expectFrontError(await get(await channelJwt({ sub: 'cha_other' })), 401, /"sub"/);
    await expectFrontError(await get(await channelJwt({ secret: 'wrong' })), 401, /signature/);
    const ok = await get(await channelJwt());
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/gif');
    expect(Buffer.from(await ok.arrayBuffer()).equals(bytes)).toBe(true);
    await expectFrontError(await fetch(`${sim.url}/attachments/fil_missing`, { headers: { authorization: `Bearer ${await channelJwt()}` } }), 404, /attachment/);
  });
});

describe('conversations', () => {
  it('threads imports by external conversation id, reads messages and conversations only with the owning channel JWT, and archives', async () => {
    sim.channels.add('cha_other');
    const thread = { ...inboundJson, metadata: { external_id: 'SM-c1', external_conversation_id: 'thread-1' } };
    expect((await importJson('inbound', thread)).status).toBe(202);
    const first = sim.inbox.at(-1)!;
    expect((await importJson('inbound', { ...thread, metadata: { ...thread.metadata, external_id: 'SM-c2' } })).status).toBe(202);
    expect(sim.inbox.at(-1)!.conversationId).toBe(first.conversationId);
    expect((await importJson('inbound', { ...thread, metadata: { external_id: 'SM-c3', external_conversation_id: 'thread-2' } })).status).toBe(202);
    expect(sim.inbox.at(-1)!.conversationId).not.toBe(first.conversationId);

    const get = async (path: string, sub = CHANNEL) => fetch(`${sim.url}${path}`, { headers: { authorization: `Bearer ${await channelJwt({ sub })}` } });
    const message = await get(`/messages/alt:uid:${first.messageUid}`);
    expect(message.status).toBe(200);
    expect(await message.json()).toMatchObject({ id: first.messageId, _links: { related: { conversation: `https://api2.frontapp.com/conversations/${first.conversationId}` } } });
    expect((await get(`/messages/${first.messageId}`)).status).toBe(200);
    expect(await (await get(`/conversations/${first.conversationId}`)).json()).toMatchObject({ id: first.conversationId, status: 'unassigned' });
    sim.archive(first.conversationId);
    expect(await (await get(`/conversations/${first.conversationId}`)).json()).toMatchObject({ status: 'archived' });

    await expectFrontError(await get(`/conversations/${first.conversationId}`, 'cha_other'), 401, /"sub"/);
    await expectFrontError(await get(`/messages/alt:uid:${first.messageUid}`, 'cha_other'), 401, /"sub"/);
    await expectFrontError(await fetch(`${sim.url}/conversations/${first.conversationId}`), 401, /bearer/i);
    await expectFrontError(await get('/conversations/cnv_missing'), 404, /conversation/);
    await expectFrontError(await get('/messages/alt:uid:uid_missing'), 404, /message/);
    // A new message reopens it.
    expect((await importJson('inbound', { ...thread, metadata: { ...thread.metadata, external_id: 'SM-c4' } })).status).toBe(202);
    expect(sim.conversations.get(first.conversationId)!.status).toBe('unassigned');
  });
});

describe('fault injection', () => {
  it('answers a scripted 429 with Retry-After, then the normal answer', async () => {
    sim.faults.script = [{ kind: 'status', status: 429, headers: { 'retry-after': '2' }, body: { _error: { status: 429, message: 'Rate limit' } } }];
    const before = sim.inbox.length;
    const limited = await importJson('inbound', inboundJson);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(sim.inbox.length).toBe(before);
    expect((await importJson('inbound', inboundJson)).status).toBe(202);
    expect(sim.inbox.length).toBe(before + 1);
  });

  it('answers a scripted 500', async () => {
    sim.faults.script = [{ kind: 'status', status: 500 }];
    expect((await importJson('outbound', { to: [{ handle: '+1' }], body: 'x', metadata: { external_id: 'a', external_conversation_id: 'b' } })).status).toBe(500);
  });

  it('resets the connection', async () => {
    sim.faults.script = [{ kind: 'reset' }];
    await expect(importJson('inbound', inboundJson)).rejects.toThrow(/fetch failed/);
  });

  it('never answers a timeout fault, so the client gives up', async () => {
    sim.faults.script = [{ kind: 'timeout' }];
    const before = sim.inbox.length;
    const token = await channelJwt();
    const hanging = fetch(`${sim.url}/channels/${CHANNEL}/inbound_messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(inboundJson),
      signal: AbortSignal.timeout(300),
    });
    await expect(hanging).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(sim.inbox.length).toBe(before);
    expect(sim.faults.injected.timeout).toBe(1);
  });
});

interface Received {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A stand-in for our channel webhook: records what Front sends and answers 200 with `answer(its base URL)`. */
async function startReceiver(received: Received[], answer: (base: string) => unknown, headers: Record<string, string> = {}): Promise<{ server: Server; base: string }> {
  let base = '';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(answer(base)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, base };
}

describe('channel client (Front calling our webhook)', () => {
  let receiver: Server;
  let webhookUrl: string;
  const received: Received[] = [];

  beforeAll(async () => {
    const started = await startReceiver(received, () => ({ type: 'success', external_id: 'ext_1', external_conversation_id: 'conv_1' }), { 'x-receiver': 'yes' });
    receiver = started.server;
    webhookUrl = `${started.base}/front/hook`;
  });
  afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

  const client = () => sim.channelClient({ webhookUrl, apiKey: 'customer_token' });
  const last = () => {
    const request = received.at(-1)!;
    return { ...request, json: () => JSON.parse(request.body) as Record<string, unknown> };
  };
  /** Checks X-Front-Signature with an HMAC computed here, not with the module's. */
  const expectSigned = (request: Received, secret = sim.appSecret) => {
    const timestamp = request.headers['x-front-request-timestamp'] as string;
    const expected = createHmac('sha256', secret).update(`${timestamp}:${request.body}`).digest('base64');
    expect(request.headers['x-front-signature']).toBe(expected);
  };

  it('signs like Front (test vector)', () => {
    expect(signFrontRequest('app_secret', '1700000000000', '{"type":"authorization","payload":{"channel_id":"cha_123"}}')).toBe(
      'HuKMoKjEycz3TJEsSG6ssFN3Vo4UWwg5n6ov3npb1e8=',
    );
  });

  it('authorize: signed POST with bearer key and ms timestamp; the channel becomes known', async () => {
    const started = Date.now();
    const response = await client().authorize('cha_new');
    expect(response.status).toBe(200);
    expect(response.headers['x-receiver']).toBe('yes');
    expect(response.json()).toEqual({ type: 'success', external_id: 'ext_1', external_conversation_id: 'conv_1' });
    const request = last();
    expect(request.method).toBe('POST');
    expect(request.body).toBe('{"type":"authorization","payload":{"channel_id":"cha_new"}}');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers.authorization).toBe('Bearer customer_token');
    const timestamp = Number(request.headers['x-front-request-timestamp']);
    expect(timestamp).toBeGreaterThanOrEqual(started);
    expect(timestamp).toBeLessThanOrEqual(Date.now());
    expectSigned(request);
    expect(sim.channels.has('cha_new')).toBe(true);
  });

  it('message: a Front message object whose attachments download with the channel JWT', async () => {
    const bytes = Buffer.from('jpeg-bytes');
    await client().message({
      channelId: CHANNEL,
      id: 'msg_fixed',
      text: 'Hi <there>\nsecond line',
      to: ['+15551230001'],
      cc: ['+15551230009'],
      channelAddress: '+15550000000',
      createdAt: 1700000000.25,
      attachments: [{ filename: 'p.jpg', contentType: 'image/jpeg', bytes }],
      externalConversationIds: ['+15551230001'],
    });
    const request = last();
    expectSigned(request);
    const { type, payload, metadata } = request.json() as { type: string; payload: Record<string, unknown>; metadata: unknown };
    expect(type).toBe('message');
    expect(metadata).toEqual({ external_conversation_ids: ['+15551230001'] });
    expect(payload).toMatchObject({
      _links: { self: 'https://api2.frontapp.com/messages/msg_fixed', related: { conversation: expect.stringMatching(/^https:\/\/api2\.frontapp\.com\/conversations\/cnv_/) } },
      id: 'msg_fixed',
      type: 'custom',
      is_inbound: false,
      created_at: 1700000000.25,
      body: '<p>Hi &lt;there&gt;<br>second line</p>',
      text: 'Hi <there>\nsecond line',
      subject: null,
      author: { id: expect.stringMatching(/^tea_/), email: expect.any(String) },
      metadata: { headers: { in_reply_to: null } },
      error_type: null,
      is_draft: false,
    });
    const recipients = payload.recipients as { handle: string; role: string }[];
    expect(recipients.map((r) => [r.role, r.handle])).toEqual([
      ['to', '+15551230001'],
      ['cc', '+15551230009'],
      ['from', '+15550000000'],
    ]);
    const [attachment] = payload.attachments as { id: string; filename: string; content_type: string; size: number; url: string; metadata: unknown }[];
    expect(attachment).toMatchObject({ id: expect.stringMatching(/^fil_/), filename: 'p.jpg', content_type: 'image/jpeg', size: bytes.length, metadata: { is_inline: false } });
    expect(attachment!.url).toBe(`${sim.url}/attachments/${attachment!.id}`);
    const download = await fetch(attachment!.url, { headers: { authorization: `Bearer ${await channelJwt()}` } });
    expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('message: defaults an id, now as created_at, and empty external_conversation_ids', async () => {
    await client().message({ channelId: CHANNEL, text: 'plain', to: ['+1'] });
    const { payload, metadata } = last().json() as { payload: { id: string; created_at: number }; metadata: unknown };
    expect(payload.id).toMatch(/^msg_/);
    expect(Math.abs(payload.created_at - Date.now() / 1000)).toBeLessThan(5);
    expect(metadata).toEqual({ external_conversation_ids: [] });
  });

  it('autoreply: no id, type auto_reply, linked to the message it answers', async () => {
    await client().autoreply({ channelId: CHANNEL, text: 'We are closed', to: ['+15551230001'], repliedToId: 'msg_inbound1' });
    const request = last();
    expectSigned(request);
    const { type, payload } = request.json() as { type: string; payload: Record<string, unknown> };
    expect(type).toBe('message_autoreply');
    expect(payload).not.toHaveProperty('id');
    expect(payload).toMatchObject({
      type: 'auto_reply',
      is_inbound: false,
      text: 'We are closed',
      _links: { related: { message_replied_to: 'https://api2.frontapp.com/messages/msg_inbound1' } },
    });
  });

  it('imported: echoes an earlier import with its external ids', async () => {
    expect((await importJson('inbound', { ...inboundJson, metadata: { external_id: 'SM_imp', external_conversation_id: '+15551230001' } })).status).toBe(202);
    await client().imported(sim.inbox.at(-1)!, { id: 'msg_imp' });
    const request = last();
    expectSigned(request);
    expect(request.json()).toMatchObject({
      type: 'message_imported',
      payload: { id: 'msg_imp', is_inbound: true, text: 'hello from SMS', metadata: { external_id: 'SM_imp' } },
      metadata: { external_conversation_id: '+15551230001', external_conversation_ids: ['+15551230001'] },
    });
  });

  it('delete: a signed DELETE with the channel id', async () => {
    await client().delete('cha_new');
    const request = last();
    expect(request.method).toBe('DELETE');
    expect(request.json()).toEqual({ type: 'delete', payload: { channel_id: 'cha_new' } });
    expectSigned(request);
  });

  it('raw: sends bad input as asked', async () => {
    await client().raw({ body: 'not json', timestamp: '1' });
    let request = last();
    expect(request.body).toBe('not json');
    expect(request.headers['x-front-request-timestamp']).toBe('1');
    expectSigned(request);

    await client().raw({ body: { type: 'message' }, secret: 'wrong_secret' });
    request = last();
    expectSigned(request, 'wrong_secret');
    expect(request.headers['x-front-signature']).not.toBe(signFrontRequest(sim.appSecret, request.headers['x-front-request-timestamp'] as string, request.body));

    await client().raw({ body: {}, sign: false, apiKey: null, headers: { 'content-type': 'text/plain' } });
    request = last();
    expect(request.headers).not.toHaveProperty('x-front-signature');
    expect(request.headers).not.toHaveProperty('authorization');
    expect(request.headers['content-type']).toBe('text/plain');

    await client().raw({ method: 'DELETE', body: {}, apiKey: 'other_token' });
    request = last();
    expect(request.method).toBe('DELETE');
    expect(request.headers.authorization).toBe('Bearer other_token');
  });
});

describe('message_imported notices (Front telling the channel it processed an import)', () => {
  let receiver: Server;
  let hookUrl: string;
  const received: Received[] = [];

  beforeAll(async () => {
    // The authorization answer names the URL for the channel's later requests.
    const started = await startReceiver(received, (base) => ({ type: 'success', webhook_url: `${base}/hook/later` }));
    receiver = started.server;
    hookUrl = `${started.base}/hook`;
    await sim.channelClient({ webhookUrl: hookUrl, apiKey: 'notice_token' }).authorize('cha_notified');
  });
  afterAll(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
  afterEach(() => {
    sim.noticeImports = true;
  });

  const importInto = async (externalId: string) =>
    fetch(`${sim.url}/channels/cha_notified/inbound_messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await channelJwt({ sub: 'cha_notified' })}` },
      body: JSON.stringify({ ...inboundJson, metadata: { external_id: externalId, external_conversation_id: '+15551230001' } }),
    }).catch(() => null);
  const notices = () => received.filter((r) => r.body.includes('"message_imported"'));

  it('go to the webhook_url of the authorization answer, signed, even when the import\'s answer was lost', async () => {
    sim.faults.script.push({ kind: 'lost-response' });
    expect(await importInto('SM_lost')).toBeNull();
    await waitUntil(() => sim.notices.some((n) => n.externalId === 'SM_lost' && n.status === 200));
    const [notice] = notices().filter((r) => r.body.includes('SM_lost'));
    expect(notice!.headers.authorization).toBe('Bearer notice_token');
    const timestamp = notice!.headers['x-front-request-timestamp'] as string;
    expect(notice!.headers['x-front-signature']).toBe(createHmac('sha256', sim.appSecret).update(`${timestamp}:${notice!.body}`).digest('base64'));
    expect(JSON.parse(notice!.body)).toMatchObject({
      type: 'message_imported',
      payload: { id: expect.stringMatching(/^msg_/), is_inbound: true, metadata: { external_id: 'SM_lost' } },
      metadata: { external_conversation_ids: ['+15551230001'] },
    });
  });

  it('are not sent when lost (noticeImports false), nor for channels that gave no webhook_url', async () => {
    sim.noticeImports = false;
    expect((await importInto('SM_quiet'))?.status).toBe(202);
    expect((await importJson('inbound', inboundJson))?.status).toBe(202);
    const before = sim.notices.length;
    sim.noticeImports = true;
    // A notice for a later import arrives; none came for the two above.
    expect((await importInto('SM_after'))?.status).toBe(202);
    await waitUntil(() => sim.notices.some((n) => n.externalId === 'SM_after' && n.status === 200));
    expect(sim.notices.slice(before).map((n) => n.externalId)).toEqual(['SM_after']);
    expect(notices().some((r) => r.body.includes('SM_quiet'))).toBe(false);
  });
});

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(check()).toBe(true);
}
