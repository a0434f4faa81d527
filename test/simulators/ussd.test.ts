import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isSwitchboardError } from '../../src/engine/errors.ts';
import { dial, gatewayRequest, parseGatewayResponse, type UssdSession } from '../../src/simulators/ussd.ts';
import { adapterFor } from '../../src/ussd/gateways/index.ts';
import { GATEWAYS, type GatewayName, type Screen, type UssdTurn } from '../../src/ussd/types.ts';

const MSISDN = '233241234567';
const MENU = 'Welcome to the helpline\n1. Talk to someone\n2. Exit';

/** A two-step flow per session: the menu, then (after "1") a free-text message. */
function answer(turn: UssdTurn, steps: Map<string, 'menu' | 'message'>): Screen {
  const key = `${turn.gateway}:${turn.sessionId}`;
  if (turn.kind === 'release' || turn.kind === 'timeout') {
    steps.delete(key);
    return { text: '', end: true };
  }
  const step = turn.kind === 'initial' ? undefined : steps.get(key);
  if (!step) {
    steps.set(key, 'menu');
    return { text: MENU, end: false };
  }
  if (step === 'message') return { text: `Thanks: ${turn.input}`, end: true };
  if (turn.input === '2') return { text: 'Goodbye', end: true };
  if (turn.input !== '1') return { text: `Choose 1 or 2\n${MENU}`, end: false };
  steps.set(key, 'message');
  return { text: 'Type your message', end: false };
}

/** Our side, cut down: POST /<gateway> parsed and answered by that gateway's adapter (region GH). */
async function startReceiver() {
  const turns: UssdTurn[] = [];
  const steps = new Map<string, 'menu' | 'message'>();
  /** Replaces the adapter's answer for the next request, to test how the simulator reads odd answers. */
  let override: { contentType: string; body: string } | null = null;
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const adapter = adapterFor((req.url ?? '').slice(1));
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    try {
      if (!adapter) throw new Error(`no gateway at ${req.url}`);
      const body: unknown = contentType === 'application/json' ? JSON.parse(raw) : Object.fromEntries(new URLSearchParams(raw));
      const turn = adapter.parse({ body, contentType, query: {}, method: req.method ?? 'POST' }, 'GH');
      turns.push(turn);
      const response = override ? { status: 200, ...override } : adapter.render(answer(turn, steps), turn);
      override = null;
      res.writeHead(response.status, { 'content-type': response.contentType }).end(response.body);
    } catch (error) {
      const status = isSwitchboardError(error) ? error.status : 500;
      const code = isSwitchboardError(error) ? error.code : 'SB_ERR_INTERNAL';
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code, message: (error as Error).message } }));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    urlFor: (gateway: GatewayName) => `${base}/${gateway}`,
    turns,
    answerNextWith: (next: { contentType: string; body: string }) => {
      override = next;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

let receiver: Awaited<ReturnType<typeof startReceiver>>;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver.close());
beforeEach(() => {
  receiver.turns.length = 0;
});

const bodies = (session: UssdSession) =>
  session.hops.map((hop) => (hop.request.contentType === 'application/json' ? JSON.parse(hop.request.body) : Object.fromEntries(new URLSearchParams(hop.request.body))));

describe.each(GATEWAYS)('a whole session through %s', (gateway) => {
  it('dials, answers the menu, sends a message and ends', async () => {
    const { session, first } = await dial(receiver.urlFor(gateway), { gateway, msisdn: MSISDN });
    expect(first.status).toBe(200);
    expect(first.screen).toEqual({ text: MENU, end: false });
    expect((await session.send('1')).screen).toEqual({ text: 'Type your message', end: false });
    expect(session.ended).toBe(false);
    const last = await session.send('hello there');
    expect(last.screen).toEqual({ text: 'Thanks: hello there', end: true });
    expect(session.ended).toBe(true);
    await expect(session.send('again')).rejects.toThrow(/ended/);

    expect(session.hops).toEqual([first, expect.anything(), last]);
    expect(receiver.turns.map((t) => [t.kind, t.input])).toEqual([
      ['initial', ''],
      ['continue', '1'],
      ['continue', 'hello there'],
    ]);
    for (const turn of receiver.turns) expect(turn).toMatchObject({ gateway, msisdn: '+233241234567' });
    expect(new Set(receiver.turns.map((t) => t.sessionId)).size).toBe(1);
    const expectedType = gateway === 'africastalking' ? 'text/plain' : 'application/json';
    for (const hop of session.hops) expect(hop.contentType).toBe(expectedType);
  });

  it('replays a hop exactly: same session id and dedupe value as the first time', async () => {
    const { session } = await dial(receiver.urlFor(gateway), { gateway, msisdn: MSISDN });
    await session.send('1');
    const original = receiver.turns.at(-1)!;
    const again = await request(receiver.urlFor(gateway), { method: 'POST', headers: { 'content-type': session.hops[1]!.request.contentType }, body: session.hops[1]!.request.body });
    await again.body.text();
    const replayed = receiver.turns.at(-1)!;
    expect([replayed.sessionId, replayed.kind, replayed.dedupe]).toEqual([original.sessionId, original.kind, original.dedupe]);
    expect(receiver.turns[0]!.dedupe).not.toBe(original.dedupe);
  });
});

describe('each gateway’s wire format', () => {
  it("Africa's Talking: forms with cumulative text; the dial string in serviceCode", async () => {
    const { session } = await dial(receiver.urlFor('africastalking'), { gateway: 'africastalking', msisdn: '+233241234567', serviceCode: '*384*99#' });
    await session.send('1');
    await session.send('hi * there');
    expect(session.hops.map((h) => h.request.contentType)).toEqual(Array(3).fill('application/x-www-form-urlencoded'));
    expect(bodies(session)).toEqual(
      ['', '1', '1*hi * there'].map((text) => ({ sessionId: session.sessionId, serviceCode: '*384*99#', phoneNumber: '+233241234567', networkCode: '99999', text })),
    );
    expect(session.sessionId).toMatch(/^ATUid_[0-9a-f]{32}$/);
    expect(session.hops[2]!.body).toBe('END Thanks:  there');
  });

  it('Nalo: MSGTYPE true with the dial string, then false with each answer; USERID, MSISDN and USERDATA echoed', async () => {
    const { session } = await dial(receiver.urlFor('nalo'), { gateway: 'nalo', msisdn: '+233241234567' });
    await session.send('2');
    expect(bodies(session)).toEqual([
      { USERID: 'SIMUSER1', MSISDN, USERDATA: '*920*1801#', MSGTYPE: true, NETWORK: 'MTN', SESSIONID: session.sessionId },
      { USERID: 'SIMUSER1', MSISDN, USERDATA: '2', MSGTYPE: false, NETWORK: 'MTN', SESSIONID: session.sessionId },
    ]);
    expect(JSON.parse(session.hops[1]!.body)).toEqual({ USERID: 'SIMUSER1', MSISDN, USERDATA: '2', MSG: 'Goodbye', MSGTYPE: false });
    expect(receiver.turns[0]!.sessionId).toBe(`+233241234567:${session.sessionId}`);
  });

  it('Nalo: two callers behind the one USERID are two sessions', async () => {
    await dial(receiver.urlFor('nalo'), { gateway: 'nalo', msisdn: '233241234567' });
    await dial(receiver.urlFor('nalo'), { gateway: 'nalo', msisdn: '233201234567' });
    expect(receiver.turns[0]!.sessionId).not.toBe(receiver.turns[1]!.sessionId);
  });

  it('Nsano: msg carries the dial string, then the answers; USSDResp back', async () => {
    const { session } = await dial(receiver.urlFor('nsano'), { gateway: 'nsano', msisdn: MSISDN, network: 'VODAFONE' });
    await session.send('1');
    expect(bodies(session)).toEqual([
      { network: 'VODAFONE', msisdn: MSISDN, msg: '*920*1801#', UserSessionID: session.sessionId },
      { network: 'VODAFONE', msisdn: MSISDN, msg: '1', UserSessionID: session.sessionId },
    ]);
    expect(JSON.parse(session.hops[1]!.body)).toEqual({ USSDResp: { action: 'input', menus: '', title: 'Type your message' } });
  });

  it('Hubtel: Initiation then Response with Sequence 1, 2, 3…; Release and Timeout reach us as release and timeout', async () => {
    const first = await dial(receiver.urlFor('hubtel'), { gateway: 'hubtel', msisdn: MSISDN, serviceCode: '*711*2#' });
    await first.session.send('1');
    expect(bodies(first.session)).toEqual([
      { Type: 'Initiation', Mobile: MSISDN, SessionId: first.session.sessionId, ServiceCode: '711*2', Message: '*711*2#', Operator: 'mtn', Sequence: 1, ClientState: '', Platform: 'USSD' },
      { Type: 'Response', Mobile: MSISDN, SessionId: first.session.sessionId, ServiceCode: '711*2', Message: '1', Operator: 'mtn', Sequence: 2, ClientState: '', Platform: 'USSD' },
    ]);
    const released = await first.session.release();
    expect(released?.screen.end).toBe(true);
    expect(bodies(first.session)[2]).toMatchObject({ Type: 'Release', Sequence: 3, Message: '' });
    expect(first.session.ended).toBe(true);

    const second = await dial(receiver.urlFor('hubtel'), { gateway: 'hubtel', msisdn: MSISDN });
    expect((await second.session.timeout())?.status).toBe(200);
    expect(bodies(second.session)[1]).toMatchObject({ Type: 'Timeout', Sequence: 2 });
    expect(receiver.turns.map((t) => t.kind)).toEqual(['initial', 'continue', 'release', 'initial', 'timeout']);
    expect(receiver.turns.map((t) => t.dedupe)).toEqual(['1', '2', '3', '1', '2']);
  });

  it('Hubtel: sends back the ClientState of our last answer', async () => {
    const url = receiver.urlFor('hubtel');
    receiver.answerNextWith({ contentType: 'application/json', body: JSON.stringify({ Type: 'Response', Message: 'Menu', ClientState: 'cursor-1' }) });
    const { session } = await dial(url, { gateway: 'hubtel', msisdn: MSISDN });
    await session.send('1');
    expect(bodies(session)[1]).toMatchObject({ ClientState: 'cursor-1' });
    expect(JSON.parse(session.hops[1]!.body)).toMatchObject({ ClientState: 'cursor-1', SessionId: session.sessionId });
  });

  it('Arkesel: newSession true with the dial string, then false; sessionID, userID and msisdn echoed', async () => {
    const { session } = await dial(receiver.urlFor('arkesel'), { gateway: 'arkesel', msisdn: MSISDN, serviceCode: '*928*1#' });
    await session.send('1');
    expect(bodies(session)).toEqual([
      { sessionID: session.sessionId, userID: 'SIMUSER1', newSession: true, msisdn: MSISDN, userData: '*928*1#', network: 'MTN' },
      { sessionID: session.sessionId, userID: 'SIMUSER1', newSession: false, msisdn: MSISDN, userData: '1', network: 'MTN' },
    ]);
    expect(JSON.parse(session.hops[1]!.body)).toEqual({ sessionID: session.sessionId, userID: 'SIMUSER1', msisdn: MSISDN, message: 'Type your message', continueSession: true });
  });
});

describe('the later gateways’ wire formats', () => {
  it('Emergent and Cross-switch: Hubtel’s fields, Initiation with the dial string then Response, Sequence 1, 2…; {Message, Type} back', async () => {
    for (const gateway of ['emergent', 'crossswitch'] as const) {
      const { session } = await dial(receiver.urlFor(gateway), { gateway, msisdn: MSISDN, serviceCode: '*714*5#' });
      await session.send('1');
      expect(bodies(session)).toEqual([
        { Type: 'Initiation', Mobile: MSISDN, SessionId: session.sessionId, ServiceCode: '714*5', Message: '*714*5#', Operator: 'MTN', Sequence: 1 },
        { Type: 'Response', Mobile: MSISDN, SessionId: session.sessionId, ServiceCode: '714*5', Message: '1', Operator: 'MTN', Sequence: 2 },
      ]);
      expect(JSON.parse(session.hops[1]!.body)).toEqual({ Message: 'Type your message', Type: 'Response' });
      expect(await session.release()).toBeNull();
    }
  });

  it('Beem: initiate with response 0, then continue with each answer; request_id from 0; terminate ends it; the echo is checked', async () => {
    const { session } = await dial(receiver.urlFor('beem'), { gateway: 'beem', msisdn: '+255712345678' });
    await session.send('1');
    expect(bodies(session)).toEqual([
      { command: 'initiate', msisdn: '255712345678', session_id: session.sessionId, operator: 'vodacom', payload: { request_id: 0, response: 0 } },
      { command: 'continue', msisdn: '255712345678', session_id: session.sessionId, operator: 'vodacom', payload: { request_id: 1, response: '1' } },
    ]);
    expect(JSON.parse(session.hops[1]!.body)).toEqual({
      msisdn: '255712345678',
      operator: 'vodacom',
      session_id: session.sessionId,
      command: 'continue',
      payload: { request_id: 1, request: 'Type your message' },
    });
    expect((await session.release())?.screen.end).toBe(true);
    expect(bodies(session)[2]).toMatchObject({ command: 'terminate' });
    expect(await session.timeout()).toBeNull();
    expect(receiver.turns.map((t) => t.kind)).toEqual(['initial', 'continue', 'release']);

    receiver.answerNextWith({ contentType: 'application/json', body: JSON.stringify({ msisdn: '255700000000', operator: 'vodacom', session_id: 'x', command: 'continue', payload: { request: 'x' } }) });
    await expect(dial(receiver.urlFor('beem'), { gateway: 'beem', msisdn: '+255712345678' })).rejects.toThrow(/echo msisdn/);
  });

  it('Southpawsl: inputOption repeats the dialled ussdString, then carries each answer; menuId and ussdString echoed', async () => {
    const { session } = await dial(receiver.urlFor('southpawsl'), { gateway: 'southpawsl', msisdn: MSISDN, serviceCode: '*714*5#', userId: 'MENU9' });
    await session.send('2');
    expect(bodies(session)).toEqual([
      { sessionId: session.sessionId, msisdn: MSISDN, menuId: 'MENU9', ussdString: '*714*5#', inputOption: '*714*5#', network: 'MTN', ussdParameters: '' },
      { sessionId: session.sessionId, msisdn: MSISDN, menuId: 'MENU9', ussdString: '*714*5#', inputOption: '2', network: 'MTN', ussdParameters: '' },
    ]);
    expect(JSON.parse(session.hops[1]!.body)).toEqual({ message: 'Goodbye', state: 'END', menuId: 'MENU9', ussdString: '*714*5#', option: '2', ussdParameter: '' });
    expect(receiver.turns.map((t) => [t.kind, t.input, t.serviceCode])).toEqual([
      ['initial', '', '*714*5#'],
      ['continue', '2', '*714*5#'],
    ]);
  });

  it('reads their answers, and throws on malformed ones', () => {
    expect(parseGatewayResponse('emergent', 'application/json', '{"Type":"Release","Message":"x"}')).toEqual({ text: 'x', end: true });
    expect(parseGatewayResponse('crossswitch', 'application/json', '{"Type":"Response","Message":"x"}')).toEqual({ text: 'x', end: false });
    expect(parseGatewayResponse('beem', 'application/json', '{"command":"terminate","payload":{"request":"x"}}')).toEqual({ text: 'x', end: true });
    expect(parseGatewayResponse('southpawsl', 'application/json', '{"message":"x","state":"CONTINUE"}')).toEqual({ text: 'x', end: false });
    expect(() => parseGatewayResponse('emergent', 'application/json', '{"Type":"End","Message":"x"}')).toThrow(/Type/);
    expect(() => parseGatewayResponse('beem', 'application/json', '{"command":"continue","payload":{}}')).toThrow(/payload.request/);
    expect(() => parseGatewayResponse('beem', 'application/json', '{"command":"end","payload":{"request":"x"}}')).toThrow(/command/);
    expect(() => parseGatewayResponse('southpawsl', 'application/json', '{"message":"x","state":"continue"}')).toThrow(/state/);
    expect(() => parseGatewayResponse('southpawsl', 'text/plain', '{}')).toThrow(/application\/json/);
  });
});

describe('end of session', () => {
  it("Africa's Talking: the notification says Success after our END, Incomplete before it, Failed for timeout()", async () => {
    const url = receiver.urlFor('africastalking');
    const done = await dial(url, { gateway: 'africastalking', msisdn: MSISDN });
    await done.session.send('2');
    await done.session.release();
    const notification = bodies(done.session)[2]!;
    expect(Object.keys(notification)).toEqual([
      'date', 'sessionId', 'serviceCode', 'networkCode', 'phoneNumber', 'status', 'cost', 'durationInMillis', 'hopsCount', 'input', 'lastAppResponse', 'errorMessage',
    ]);
    expect(notification).toMatchObject({ sessionId: done.session.sessionId, status: 'Success', hopsCount: '2', input: '2', lastAppResponse: 'END Goodbye', errorMessage: '' });
    expect(notification.date).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);

    const dropped = await dial(url, { gateway: 'africastalking', msisdn: MSISDN });
    await dropped.session.release();
    expect(bodies(dropped.session)[1]).toMatchObject({ status: 'Incomplete', input: '', lastAppResponse: `CON ${MENU}` });

    const slow = await dial(url, { gateway: 'africastalking', msisdn: MSISDN });
    await slow.session.timeout();
    expect(bodies(slow.session)[1]).toMatchObject({ status: 'Failed' });
    expect(receiver.turns.map((t) => t.kind)).toEqual(['initial', 'continue', 'release', 'initial', 'release', 'initial', 'timeout']);
  });

  it('Nalo, Nsano and Arkesel send nothing when a session ends', async () => {
    for (const gateway of ['nalo', 'nsano', 'arkesel'] as const) {
      const { session } = await dial(receiver.urlFor(gateway), { gateway, msisdn: MSISDN });
      expect(await session.release()).toBeNull();
      expect(await session.timeout()).toBeNull();
      expect(session.hops).toHaveLength(1);
      expect(() => gatewayRequest(gateway, { kind: 'release', sessionId: 's', msisdn: MSISDN, inputs: [] })).toThrow(/sends no release/);
    }
  });

  it('an HTTP error ends the session with an empty screen', async () => {
    const { session, first } = await dial(receiver.urlFor('hubtel'), { gateway: 'hubtel', msisdn: 'not a number' });
    expect(first.status).toBe(422);
    expect(JSON.parse(first.body).error.code).toBe('SB_ERR_INVALID_PAYLOAD');
    expect(first.screen).toEqual({ text: '', end: true });
    expect(session.ended).toBe(true);
  });
});

describe('reading answers', () => {
  it('parses each gateway’s continue and end answers', () => {
    expect(parseGatewayResponse('africastalking', 'text/plain', 'CON a\nb')).toEqual({ text: 'a\nb', end: false });
    expect(parseGatewayResponse('africastalking', 'text/plain', 'END')).toEqual({ text: '', end: true });
    expect(parseGatewayResponse('nalo', 'application/json', '{"MSG":"x","MSGTYPE":false}')).toEqual({ text: 'x', end: true });
    expect(parseGatewayResponse('nsano', 'application/json', '{"USSDResp":{"action":"input","menus":"","title":"x"}}')).toEqual({ text: 'x', end: false });
    expect(parseGatewayResponse('hubtel', 'application/json', '{"Type":"release","Message":"x"}')).toEqual({ text: 'x', end: true });
    expect(parseGatewayResponse('arkesel', 'application/json', '{"message":"x","continueSession":true}')).toEqual({ text: 'x', end: false });
  });

  it('throws on answers the gateway would reject as malformed', () => {
    expect(() => parseGatewayResponse('africastalking', 'text/plain', 'Welcome')).toThrow(/CON or END/);
    expect(() => parseGatewayResponse('africastalking', 'text/plain', 'CONTINUE')).toThrow(/CON or END/);
    expect(() => parseGatewayResponse('africastalking', 'application/json', 'CON x')).toThrow(/text\/plain/);
    expect(() => parseGatewayResponse('nalo', 'text/plain', '{}')).toThrow(/application\/json/);
    expect(() => parseGatewayResponse('nalo', 'application/json', '{"MSG":"x","MSGTYPE":"true"}')).toThrow(/MSGTYPE/);
    expect(() => parseGatewayResponse('nsano', 'application/json', '{"USSDResp":{"action":"end","title":"x"}}')).toThrow(/action/);
    expect(() => parseGatewayResponse('hubtel', 'application/json', '{"Type":"AddToCart","Message":"x"}')).toThrow(/Type/);
    expect(() => parseGatewayResponse('arkesel', 'application/json', '[]')).toThrow(/JSON object/);
  });

  it('fails a session whose answer does not echo what the gateway expects back', async () => {
    receiver.answerNextWith({ contentType: 'application/json', body: JSON.stringify({ USERID: 'someone-else', MSISDN, USERDATA: '*920*1801#', MSG: 'x', MSGTYPE: true }) });
    await expect(dial(receiver.urlFor('nalo'), { gateway: 'nalo', msisdn: MSISDN })).rejects.toThrow(/echo USERID/);
  });
});
