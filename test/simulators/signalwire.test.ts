import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  signSignalWireRequest,
  startSignalWireSimulator,
  type SignalWireSimulator,
  type SimMessage,
} from '../../src/simulators/signalwire.ts';
import { waitFor } from '../helpers/wait.ts';

let sim: SignalWireSimulator;
beforeEach(async () => {
  sim = await startSignalWireSimulator();
});
afterEach(() => sim.close());

const RFC2822 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MORE_INFO = 'https://developer.signalwire.com/compatibility-api/reference/error-codes';

const base = () => `/api/laml/2010-04-01/Accounts/${sim.projectId}`;
const basicAuth = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const auth = () => ({ authorization: basicAuth(sim.projectId, sim.apiToken) });
/** GET a path (as in *_uri fields) with the simulator's credentials. */
const get = (path: string, init: RequestInit = {}) => fetch(`${sim.url}${path}`, { headers: auth(), ...init });
const send = (params: [string, string][], path = `${base()}/Messages.json`) =>
  fetch(`${sim.url}${path}`, { method: 'POST', headers: auth(), body: new URLSearchParams(params) });
const errorJson = (code: number | string, message: string, status: number) => ({ code, message, more_info: MORE_INFO, status });

interface Page {
  uri: string;
  first_page_uri: string;
  next_page_uri: string | null;
  previous_page_uri: string | null;
  page: number;
  page_size: number;
  messages: SimMessage[];
}

/** Follow next_page_uri from `path` until it is null; returns every page. */
async function allPages(path: string): Promise<Page[]> {
  const pages: Page[] = [];
  for (let next: string | null = path; next !== null; next = pages.at(-1)!.next_page_uri) {
    const response = await get(next);
    expect(response.status).toBe(200);
    pages.push((await response.json()) as Page);
  }
  return pages;
}

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A local webhook receiver recording each request's raw body. */
async function startReceiver(status = 200) {
  const received: Received[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    received.push({ url: req.url ?? '', headers: req.headers, body });
    res.writeHead(status, { 'content-type': 'text/xml' });
    res.end('<Response></Response>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return { url, received, close };
}

/** Signature computed independently of the simulator, from the raw form body. */
function expectedSignature(key: string, url: string, rawBody: string): string {
  const pairs = [...new URLSearchParams(rawBody)];
  pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHmac('sha1', key).update(url + pairs.map(([k, v]) => k + v).join('')).digest('base64');
}

describe('auth', () => {
  it('answers 401 without credentials, with a wrong token, or for another project', async () => {
    const unauthenticated = errorJson(20003, 'Authentication Error - invalid username', 401);
    const none = await fetch(`${sim.url}${base()}/Messages.json`);
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual(unauthenticated);
    const wrong = await get(`${base()}/Messages.json`, { headers: { authorization: basicAuth(sim.projectId, 'nope') } });
    expect(wrong.status).toBe(401);
    const otherProject = await get(`/api/laml/2010-04-01/Accounts/00000000-0000-0000-0000-000000000000/Messages`);
    expect(otherProject.status).toBe(401);
    sim.codesAsStrings = true;
    expect(await (await fetch(`${sim.url}${base()}/Messages`)).json()).toEqual({ ...unauthenticated, code: '20003' });
    expect(sim.messages()).toEqual([]);
  });
});

describe('POST .../Messages', () => {
  it('answers 201 with a queued Message, stores it and records the form with repeated MediaUrl', async () => {
    const form: [string, string][] = [['From', '+15550001111'], ['To', '+15552223333'], ['Body', 'hello there']];
    form.push(['MediaUrl', 'https://files.example/a.png'], ['MediaUrl', 'https://files.example/b.txt']);
    const response = await send(form);
    expect(response.status).toBe(201);
    const message = (await response.json()) as SimMessage;
    const path = `${base()}/Messages/${message.sid}`;
    expect(message).toEqual({
      account_sid: sim.projectId,
      api_version: '2010-04-01',
      body: 'hello there',
      num_segments: '1',
      num_media: '2',
      date_created: expect.stringMatching(RFC2822),
      date_sent: null,
      date_updated: message.date_created,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: '+15550001111',
      to: '+15552223333',
      messaging_service_sid: null,
      price: null,
      price_unit: 'USD',
      sid: expect.stringMatching(UUID),
      status: 'queued',
      uri: `${path}.json`,
      subresource_uris: { media: `${path}/Media.json` },
    });
    expect(sim.sent()).toEqual([message]);
    expect(await (await get(path)).json()).toEqual(message);
    const media = (await (await get(`${path}/Media.json`)).json()) as { media_list: { content_type: string }[] };
    expect(media.media_list.map((item) => item.content_type)).toEqual(['image/png', 'text/plain']);

    expect(sim.requests).toHaveLength(3);
    expect(sim.requests[0]).toMatchObject({ method: 'POST', path: `${base()}/Messages.json`, form });
    expect(sim.requests[0]!.headers.authorization).toBe(auth().authorization);
  });

  it('accepts the path without .json', async () => {
    const response = await send([['From', '+15550001111'], ['To', '+15552223333'], ['Body', 'x']], `${base()}/Messages`);
    expect(response.status).toBe(201);
    expect(sim.sent()).toHaveLength(1);
  });

  it('rejects a bad To (21211), no Body nor media (21602) and an unregistered From (422 / 21717)', async () => {
    const badTo = await send([['From', '+15550001111'], ['To', '5552223333'], ['Body', 'x']]);
    expect(badTo.status).toBe(400);
    expect(await badTo.json()).toEqual(errorJson(21211, "Invalid 'To' Phone Number", 400));
    const noTo = await send([['From', '+15550001111'], ['Body', 'x']]);
    expect(((await noTo.json()) as { code: number }).code).toBe(21211);
    const empty = await send([['From', '+15550001111'], ['To', '+15552223333']]);
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { code: number }).code).toBe(21602);

    sim.unregisteredFrom.add('+15550009999');
    const unregistered = await send([['From', '+15550009999'], ['To', '+15552223333'], ['Body', 'x']]);
    expect(unregistered.status).toBe(422);
    expect(await unregistered.json()).toEqual(errorJson(21717, 'From must belong to an active campaign.', 422));
    sim.codesAsStrings = true;
    const asString = await send([['From', '+15550009999'], ['To', '+15552223333'], ['Body', 'x']]);
    expect(((await asString.json()) as { code: unknown }).code).toBe('21717');
    expect(sim.messages()).toEqual([]);
  });

  it('answers 404 for an unknown message', async () => {
    const response = await get(`${base()}/Messages/00000000-0000-0000-0000-000000000000.json`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual(errorJson(20404, 'The requested resource was not found', 404));
  });
});

describe('GET .../Messages', () => {
  const day = (d: string, time = '12:00:00') => new Date(`${d}T${time}Z`);

  it('lists newest first (ties: later inserted first) and pages through next_page_uri', async () => {
    const seeded = [
      sim.addMessage({ from: '+15550000001', to: '+15559990000', body: 'm0', dateCreated: day('2026-01-01') }),
      sim.addMessage({ from: '+15550000002', to: '+15559990000', body: 'm1', dateCreated: day('2026-01-03') }),
      sim.addMessage({ from: '+15550000003', to: '+15559990000', body: 'm2', dateCreated: day('2026-01-02') }),
      sim.addMessage({ from: '+15550000004', to: '+15559990000', body: 'm3', dateCreated: day('2026-01-03') }),
      sim.addMessage({ from: '+15550000005', to: '+15559990000', body: 'm4', dateCreated: day('2025-12-31') }),
    ];
    const bodies = ['m3', 'm1', 'm2', 'm0', 'm4'];
    expect(sim.messages().map((m) => m.body)).toEqual(bodies);
    expect(seeded[0]!.date_sent).toBe(seeded[0]!.date_created);

    const pages = await allPages(`${base()}/Messages.json?PageSize=2`);
    expect(pages.map((p) => p.messages.map((m) => m.body))).toEqual([['m3', 'm1'], ['m2', 'm0'], ['m4']]);
    expect(pages.map((p) => [p.page, p.page_size])).toEqual([[0, 2], [1, 2], [2, 2]]);
    expect(pages[0]!.previous_page_uri).toBeNull();
    expect(pages[1]!.previous_page_uri).toBe(pages[0]!.uri);
    expect(pages[2]!.next_page_uri).toBeNull();
    expect(pages[1]!.first_page_uri).toBe(pages[0]!.uri);

    const whole = (await (await get(`${base()}/Messages`)).json()) as Page;
    expect(whole.page_size).toBe(50);
    expect(whole.next_page_uri).toBeNull();
    expect(whole.messages.map((m) => m.body)).toEqual(bodies);
    const clamped = (await (await get(`${base()}/Messages.json?PageSize=5000`)).json()) as Page;
    expect(clamped.page_size).toBe(1000);
    expect(sim.requests.filter((r) => r.method === 'GET')).toHaveLength(5);
    expect(sim.requests[0]!.query).toEqual({ PageSize: '2' });
  });

  it('filters on DateSent<=, DateSent>=, DateSent, To and From, keeping filters in page links', async () => {
    for (const [i, d] of ['2026-01-01', '2026-01-02', '2026-01-02', '2026-01-03', '2026-01-04'].entries()) {
      sim.addMessage({ from: `+1555000000${i}`, to: '+15559990000', body: `d${i}`, dateCreated: day(d, '23:59:59') });
    }
    // Not sent yet: never matches a DateSent filter.
    sim.addMessage({ from: '+15559990000', to: '+15550000001', body: 'queued', direction: 'outbound-api', status: 'queued', dateCreated: day('2026-01-02') });
    const bodies = async (query: string) =>
      (await allPages(`${base()}/Messages.json?${query}`)).flatMap((p) => p.messages.map((m) => m.body));

    expect(await bodies('DateSent%3C%3D=2026-01-02')).toEqual(['d2', 'd1', 'd0']);
    expect(await bodies('DateSent%3E%3D=2026-01-03')).toEqual(['d4', 'd3']);
    expect(await bodies('DateSent%3E%3D=2026-01-02&DateSent%3C%3D=2026-01-03&PageSize=1')).toEqual(['d3', 'd2', 'd1']);
    expect(await bodies('DateSent=2026-01-02')).toEqual(['d2', 'd1']);
    expect(await bodies('DateSent%3C=2026-01-02')).toEqual(['d0']);
    expect(await bodies('To=%2B15550000001')).toEqual(['queued']);
    expect(await bodies('From=%2B15550000003')).toEqual(['d3']);

    const first = (await (await get(`${base()}/Messages.json?DateSent%3E%3D=2026-01-02&PageSize=1`)).json()) as Page;
    expect(first.next_page_uri).toBe(`${base()}/Messages.json?DateSent%3E%3D=2026-01-02&PageSize=1&Page=1`);
  });
});

describe('media', () => {
  it('lists media as JSON and downloads the bytes with Basic auth', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]);
    const message = sim.addMessage({
      from: '+15550001111',
      to: '+15552223333',
      body: null,
      media: [
        { sid: 'ME-1', content_type: 'image/png', bytes: png },
        { sid: 'ME-2', content_type: 'text/plain', bytes: Buffer.from('more text') },
      ],
    });
    expect(message.num_media).toBe('2');
    const list = (await (await get(message.subresource_uris.media)).json()) as { media_list: Record<string, string>[]; next_page_uri: null; page: number };
    expect(list.next_page_uri).toBeNull();
    expect(list.page).toBe(0);
    const mediaPath = `${base()}/Messages/${message.sid}/Media`;
    expect(list.media_list[0]).toEqual({
      sid: 'ME-1',
      parent_sid: message.sid,
      account_sid: sim.projectId,
      content_type: 'image/png',
      date_created: message.date_created,
      date_updated: message.date_created,
      uri: `${mediaPath}/ME-1.json`,
    });
    expect(list.media_list.map((m) => m.sid)).toEqual(['ME-1', 'ME-2']);

    const download = await get(list.media_list[0]!.uri!.replace(/\.json$/, ''), { headers: { ...auth(), accept: '*/*' } });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await download.arrayBuffer())).toEqual(png);
    expect(await (await get(`${mediaPath}/ME-2.json`)).json()).toEqual(list.media_list[1]);
    expect((await fetch(`${sim.url}${mediaPath}/ME-1`)).status).toBe(401);
    expect((await get(`${mediaPath}/ME-3`)).status).toBe(404);
  });
});

describe('webhooks', () => {
  it('receiveInbound POSTs a signed form and stores the inbound message', async () => {
    const receiver = await startReceiver();
    try {
      const hookUrl = `${receiver.url}/hooks/sms?channel=1`;
      const bytes = Buffer.from('GIF89a');
      const { message, status, body } = await sim.receiveInbound(
        { from: '+15557770000', to: '+15550001111', body: 'hi & bye', media: [{ sid: 'ME-9', content_type: 'image/gif', bytes }] },
        hookUrl,
      );
      expect(status).toBe(200);
      expect(body).toBe('<Response></Response>');
      expect(message).toMatchObject({ direction: 'inbound', status: 'received', body: 'hi & bye', num_media: '1' });
      expect(message.date_sent).toBe(message.date_created);
      expect(sim.message(message.sid)).toEqual(message);
      expect(sim.sent()).toEqual([]);

      expect(receiver.received).toHaveLength(1);
      const [hook] = receiver.received;
      expect(hook!.url).toBe('/hooks/sms?channel=1');
      expect(hook!.headers['content-type']).toBe('application/x-www-form-urlencoded');
      const signature = expectedSignature(sim.signingKey, hookUrl, hook!.body);
      expect(hook!.headers['x-signalwire-signature']).toBe(signature);
      expect(hook!.headers['x-twilio-signature']).toBe(signature);
      const mediaUrl = `${sim.url}${base()}/Messages/${message.sid}/Media/ME-9`;
      expect([...new URLSearchParams(hook!.body)]).toEqual([
        ['MessageSid', message.sid],
        ['SmsSid', message.sid],
        ['AccountSid', sim.projectId],
        ['From', '+15557770000'],
        ['To', '+15550001111'],
        ['Body', 'hi & bye'],
        ['NumMedia', '1'],
        ['NumSegments', '1'],
        ['SmsStatus', 'received'],
        ['ApiVersion', '2010-04-01'],
        ['MediaUrl0', mediaUrl],
        ['MediaContentType0', 'image/gif'],
      ]);
      const download = await fetch(mediaUrl, { headers: auth() });
      expect(Buffer.from(await download.arrayBuffer())).toEqual(bytes);
      // The webhook is not an API request.
      expect(sim.requests.map((r) => r.path)).toEqual([`${base()}/Messages/${message.sid}/Media/ME-9`]);
    } finally {
      await receiver.close();
    }
  });

  it('setStatus updates the message and POSTs a signed status callback', async () => {
    const receiver = await startReceiver(204);
    try {
      const created = (await (
        await send([['From', '+15550001111'], ['To', '+15552223333'], ['Body', 'x'], ['StatusCallback', `${receiver.url}/status`]])
      ).json()) as SimMessage;
      const status = await sim.setStatus(created.sid, 'undelivered', { errorCode: '30003', errorMessage: 'Unreachable destination handset' });
      expect(status).toBe(204);
      expect(sim.message(created.sid)).toMatchObject({
        status: 'undelivered',
        error_code: 30003,
        error_message: 'Unreachable destination handset',
        date_sent: expect.stringMatching(RFC2822),
      });
      const [callback] = receiver.received;
      expect(callback!.headers['x-signalwire-signature']).toBe(
        expectedSignature(sim.signingKey, `${receiver.url}/status`, callback!.body),
      );
      expect(Object.fromEntries(new URLSearchParams(callback!.body))).toEqual({
        MessageSid: created.sid,
        SmsSid: created.sid,
        AccountSid: sim.projectId,
        From: '+15550001111',
        To: '+15552223333',
        Body: 'x',
        MessageStatus: 'undelivered',
        SmsStatus: 'undelivered',
        ErrorCode: '30003',
        NumMedia: '0',
        NumSegments: '1',
        ApiVersion: '2010-04-01',
      });

      const seeded = sim.addMessage({ from: '+15550001111', to: '+15552223333', direction: 'outbound-api', status: 'sent' });
      expect(await sim.setStatus(seeded.sid, 'delivered')).toBeNull();
      expect(sim.message(seeded.sid)!.status).toBe('delivered');
      expect(await sim.setStatus(seeded.sid, 'delivered', { callbackUrl: `${receiver.url}/other` })).toBe(204);
      expect(receiver.received.map((r) => r.url)).toEqual(['/status', '/other']);
    } finally {
      await receiver.close();
    }
  });

  it('autoDeliver moves a sent message to sent then delivered, with a callback for each', async () => {
    const receiver = await startReceiver();
    try {
      sim.autoDeliver = true;
      const response = await send([['From', '+15550001111'], ['To', '+15552223333'], ['Body', 'x'], ['StatusCallback', receiver.url]]);
      const { sid } = (await response.json()) as SimMessage;
      await waitFor(() => receiver.received.length === 2, { timeoutMs: 5_000, what: 'two status callbacks' });
      expect(receiver.received.map((r) => new URLSearchParams(r.body).get('MessageStatus'))).toEqual(['sent', 'delivered']);
      const message = sim.message(sid)!;
      expect(message.status).toBe('delivered');
      expect(message.date_sent).toMatch(RFC2822);
      expect(message.error_code).toBeNull();
    } finally {
      await receiver.close();
    }
  });
});

describe('signSignalWireRequest', () => {
  it('matches the documented test vector', () => {
    const params: [string, string][] = [['To', '+18005551212'], ['CallSid', 'CA1234567890ABCDE'], ['Digits', '1234']];
    params.push(['From', '+12349013030'], ['Caller', '+12349013030']);
    expect(signSignalWireRequest('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', params)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
  });

  it('signs repeated names in their original order', () => {
    const a = signSignalWireRequest('k', 'https://x.test/', [['B', '1'], ['A', 'y'], ['A', 'x']]);
    expect(a).toBe(createHmac('sha1', 'k').update('https://x.test/AyAxB1').digest('base64'));
  });
});

describe('fault injection', () => {
  it('applies scripted 429, 500, reset and timeout, then answers normally', async () => {
    sim.faults.script.push(
      { kind: 'status', status: 429, headers: { 'retry-after': '2' }, body: { code: 20429, message: 'Too Many Requests', status: 429 } },
      { kind: 'status', status: 500 },
      { kind: 'reset' },
      { kind: 'timeout' },
    );
    const form: [string, string][] = [['From', '+15550001111'], ['To', '+15552223333'], ['Body', 'x']];
    const limited = await send(form);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(((await limited.json()) as { code: number }).code).toBe(20429);
    expect((await send(form)).status).toBe(500);
    await expect(send(form)).rejects.toThrow();
    const url = `${sim.url}${base()}/Messages.json`;
    await expect(fetch(url, { headers: auth(), signal: AbortSignal.timeout(200) })).rejects.toThrow(/abort|timeout/i);
    expect((await send(form)).status).toBe(201);
    expect(sim.sent()).toHaveLength(1);
    expect(sim.requests).toHaveLength(5);
    expect(sim.faults.injected).toMatchObject({ status: 2, reset: 1, timeout: 1 });
  });
});

describe('rate-limited mode', () => {
  const from = (sender: string): [string, string][] => [['From', sender], ['To', '+15552223333'], ['Body', 'x']];

  it('answers 429 with Retry-After beyond N sends a second per number, and sends again once the second has passed', async () => {
    let now = 1_000_000;
    sim.faults.now = () => now;
    sim.faults.rateLimit = { perSecond: 2, per: 'sender' };
    expect((await send(from('+15550001111'))).status).toBe(201);
    now += 500;
    expect((await send(from('+15550001111'))).status).toBe(201);
    const limited = await send(from('+15550001111'));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(await limited.json()).toEqual(errorJson(20429, 'Too Many Requests', 429));
    // Another number has its own allowance.
    expect((await send(from('+15550004444'))).status).toBe(201);
    // One second after the first send, its slot is free again; the second's is not.
    now += 500;
    expect((await send(from('+15550001111'))).status).toBe(201);
    expect((await send(from('+15550001111'))).status).toBe(429);
    expect(sim.sent().map((m) => m.from)).toEqual(['+15550001111', '+15550001111', '+15550004444', '+15550001111']);
    expect(sim.faults.rateLimited).toEqual([1_000_500, 1_001_000]);
  });

  it('counts every number of the account together in per-account mode, and leaves reads alone', async () => {
    sim.faults.now = () => 5_000;
    sim.faults.rateLimit = { perSecond: 1, per: 'account' };
    expect((await send(from('+15550001111'))).status).toBe(201);
    expect((await send(from('+15550004444'))).status).toBe(429);
    expect((await get(`${base()}/Messages.json`)).status).toBe(200);
    expect(sim.sent()).toHaveLength(1);
  });

  it('limits nothing when no limit is set', async () => {
    for (let i = 0; i < 5; i++) expect((await send(from('+15550001111'))).status).toBe(201);
    expect(sim.faults.rateLimited).toEqual([]);
  });
});
