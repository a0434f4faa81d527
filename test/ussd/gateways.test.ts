import { describe, expect, it } from 'vitest';
import { isSwitchboardError } from '../../src/engine/errors.ts';
import { africastalkingAdapter } from '../../src/ussd/gateways/africastalking.ts';
import { arkeselAdapter } from '../../src/ussd/gateways/arkesel.ts';
import { beemAdapter } from '../../src/ussd/gateways/beem.ts';
import { crossswitchAdapter } from '../../src/ussd/gateways/crossswitch.ts';
import { emergentAdapter } from '../../src/ussd/gateways/emergent.ts';
import { hubtelAdapter } from '../../src/ussd/gateways/hubtel.ts';
import { adapterFor, GATEWAY_ADAPTERS } from '../../src/ussd/gateways/index.ts';
import { naloAdapter } from '../../src/ussd/gateways/nalo.ts';
import { nsanoAdapter } from '../../src/ussd/gateways/nsano.ts';
import { southpawslAdapter } from '../../src/ussd/gateways/southpawsl.ts';
import { GATEWAYS, type GatewayAdapter, type GatewayHttpRequest } from '../../src/ussd/types.ts';

const json = (body: unknown): GatewayHttpRequest => ({ body, contentType: 'application/json', query: {}, method: 'POST' });
const form = (body: Record<string, string>): GatewayHttpRequest => ({ body, contentType: 'application/x-www-form-urlencoded', query: {}, method: 'POST' });

/** Parsing must fail with SB_ERR_INVALID_PAYLOAD. */
function expectInvalid(adapter: GatewayAdapter, request: GatewayHttpRequest, message?: RegExp): void {
  let thrown: unknown;
  try {
    adapter.parse(request, 'GH');
  } catch (error) {
    thrown = error;
  }
  expect(isSwitchboardError(thrown) && thrown.code).toBe('SB_ERR_INVALID_PAYLOAD');
  if (message) expect((thrown as Error).message).toMatch(message);
}

const MSISDN = '233241234567';
const E164 = '+233241234567';

describe('GATEWAY_ADAPTERS / adapterFor', () => {
  it('has one adapter per gateway under its own name, Nalo with a 120-septet page budget and the others 160', () => {
    expect(Object.keys(GATEWAY_ADAPTERS)).toEqual([...GATEWAYS]);
    for (const name of GATEWAYS) {
      expect(GATEWAY_ADAPTERS[name].name).toBe(name);
      expect(adapterFor(name)).toBe(GATEWAY_ADAPTERS[name]);
      expect(GATEWAY_ADAPTERS[name].pageBudget).toBe(name === 'nalo' ? 120 : 160);
    }
  });

  it('knows no other name, nor other spellings or object keys', () => {
    for (const name of ['Hubtel', 'at', '', '__proto__', 'constructor', 'toString']) expect(adapterFor(name)).toBeUndefined();
  });
});

describe("Africa's Talking", () => {
  const at = africastalkingAdapter;
  const hop = (text: string) => form({ sessionId: 'ATUid_abc', serviceCode: '*384*1234#', phoneNumber: '+254711123456', networkCode: '63902', text });

  it('parses the first hop (text "") as initial, in E.164, with network and service code', () => {
    const request = hop('');
    expect(at.parse(request, 'KE')).toEqual({
      gateway: 'africastalking',
      sessionId: 'ATUid_abc',
      msisdn: '+254711123456',
      network: '63902',
      serviceCode: '*384*1234#',
      input: '',
      kind: 'initial',
      dedupe: '',
      raw: request.body,
    });
  });

  it('takes the last *-segment of the cumulative text as the input and the whole text as dedupe', () => {
    expect(at.parse(hop('1'), 'KE')).toMatchObject({ kind: 'continue', input: '1', dedupe: '1' });
    expect(at.parse(hop('1*2*500'), 'KE')).toMatchObject({ kind: 'continue', input: '500', dedupe: '1*2*500' });
    // An empty answer after earlier ones is still a continue.
    expect(at.parse(hop('1*'), 'KE')).toMatchObject({ kind: 'continue', input: '', dedupe: '1*' });
  });

  it("reads a GET's query (passed as a form) and normalises a local number with the region; absent codes are null", () => {
    const request: GatewayHttpRequest = { body: { sessionId: 's1', phoneNumber: '0241234567', text: '' }, contentType: 'application/x-www-form-urlencoded', query: {}, method: 'GET' };
    expect(at.parse(request, 'GH')).toMatchObject({ msisdn: E164, network: null, serviceCode: null, kind: 'initial' });
  });

  it('maps end-of-session notifications: Failed to timeout, Success and Incomplete to release', () => {
    const notification = (status: string) =>
      form({
        date: '2026-01-02 10:11:12',
        sessionId: 'ATUid_abc',
        serviceCode: '*384*1234#',
        networkCode: '63902',
        phoneNumber: '+254711123456',
        status,
        cost: 'KES 0.10',
        durationInMillis: '41000',
        hopsCount: '3',
        input: '1*2',
        lastAppResponse: 'CON Choose',
        errorMessage: status === 'Failed' ? 'timeout' : '',
      });
    expect(at.parse(notification('Incomplete'), 'KE')).toMatchObject({ kind: 'release', input: '', sessionId: 'ATUid_abc', msisdn: '+254711123456', dedupe: 'Incomplete' });
    expect(at.parse(notification('Success'), 'KE')).toMatchObject({ kind: 'release', input: '' });
    expect(at.parse(notification('Failed'), 'KE')).toMatchObject({ kind: 'timeout', input: '', dedupe: 'Failed' });
  });

  it('renders CON and END as text/plain with the prefix and a space', () => {
    const turn = at.parse(hop(''), 'KE');
    expect(at.render({ text: 'Welcome\n1. Talk', end: false }, turn)).toEqual({ status: 200, contentType: 'text/plain', body: 'CON Welcome\n1. Talk' });
    expect(at.render({ text: 'Bye', end: true }, turn)).toEqual({ status: 200, contentType: 'text/plain', body: 'END Bye' });
  });

  it('refuses JSON, missing fields, a hop with neither text nor status, and a bad phone number', () => {
    expectInvalid(at, json({ sessionId: 's', phoneNumber: '+254711123456', text: '' }), /form/);
    expectInvalid(at, { ...form({ sessionId: 's', phoneNumber: '+254711123456' }), body: { sessionId: 's', phoneNumber: '+254711123456', text: 1 } });
    expectInvalid(at, form({ phoneNumber: '+254711123456', text: '' }), /sessionId/);
    expectInvalid(at, form({ sessionId: 's', text: '' }), /phoneNumber/);
    expectInvalid(at, form({ sessionId: 's', phoneNumber: 'not a number', text: '' }), /phoneNumber/);
    expectInvalid(at, form({ sessionId: 's', phoneNumber: '+254711123456' }), /neither text/);
  });
});

describe('Nalo', () => {
  const nalo = naloAdapter;
  const request = (fields: Record<string, unknown>) =>
    json({ USERID: 'NALOTest', MSISDN, USERDATA: '1', MSGTYPE: false, NETWORK: 'MTN', SESSIONID: '16590115252429751', ...fields });

  it('parses the dial (MSGTYPE true), stripping the dial string, keyed on MSISDN:SESSIONID', () => {
    const dial = request({ USERDATA: '*920*1801#', MSGTYPE: true });
    expect(nalo.parse(dial, 'GH')).toEqual({
      gateway: 'nalo',
      sessionId: `${E164}:16590115252429751`,
      msisdn: E164,
      network: 'MTN',
      serviceCode: null,
      input: '',
      kind: 'initial',
      dedupe: 'initial:*920*1801#',
      raw: dial.body,
    });
  });

  it('strips an extension too, and reads MSGTYPE given as a string or 1/0', () => {
    expect(nalo.parse(request({ USERDATA: '9', MSGTYPE: 'true' }), 'GH')).toMatchObject({ kind: 'initial', input: '' });
    expect(nalo.parse(request({ USERDATA: '*920*141*50032', MSGTYPE: 1 }), 'GH')).toMatchObject({ kind: 'initial', input: '' });
    expect(nalo.parse(request({ USERDATA: '2', MSGTYPE: 'false' }), 'GH')).toMatchObject({ kind: 'continue', input: '2', dedupe: 'continue:2' });
    expect(nalo.parse(request({ USERDATA: '3', MSGTYPE: 0 }), 'GH')).toMatchObject({ kind: 'continue', input: '3' });
  });

  it('parses an answer; a missing USERDATA is an empty answer', () => {
    expect(nalo.parse(request({}), 'GH')).toMatchObject({ kind: 'continue', input: '1', dedupe: 'continue:1' });
    expect(nalo.parse(request({ USERDATA: undefined }), 'GH')).toMatchObject({ kind: 'continue', input: '', dedupe: 'continue:' });
  });

  it('keys sessions on the MSISDN (plus SESSIONID when present), never on USERID', () => {
    const withoutSessionId = request({ SESSIONID: undefined });
    expect(nalo.parse(withoutSessionId, 'GH').sessionId).toBe(E164);
    // Two callers behind the same integrator USERID are two sessions.
    const a = nalo.parse(request({ MSISDN: '233241234567', SESSIONID: undefined }), 'GH');
    const b = nalo.parse(request({ MSISDN: '233201234567', SESSIONID: undefined }), 'GH');
    expect(a.sessionId).not.toBe(b.sessionId);
    const c = nalo.parse(request({ MSISDN: '233241234567' }), 'GH');
    const d = nalo.parse(request({ MSISDN: '233201234567' }), 'GH');
    expect(c.sessionId).not.toBe(d.sessionId);
    for (const turn of [a, b, c, d]) expect(turn.sessionId).not.toContain('NALOTest');
    // A re-dial with a new SESSIONID is a new session; an unquoted SESSIONID reads as its digits.
    expect(nalo.parse(request({ SESSIONID: '17' }), 'GH').sessionId).toBe(`${E164}:17`);
    expect(nalo.parse(request({ SESSIONID: 42 }), 'GH').sessionId).toBe(`${E164}:42`);
    // A local-format MSISDN keys the same session as the international one.
    expect(nalo.parse(request({ MSISDN: '0241234567' }), 'GH').sessionId).toBe(c.sessionId);
  });

  it('answers JSON echoing USERID, MSISDN and USERDATA as received, with MSG and MSGTYPE true to continue, false to end', () => {
    const turn = nalo.parse(request({ USERDATA: '1' }), 'GH');
    const cont = nalo.render({ text: 'Type your message', end: false }, turn);
    expect(cont).toEqual({
      status: 200,
      contentType: 'application/json',
      body: '{"USERID":"NALOTest","MSISDN":"233241234567","USERDATA":"1","MSG":"Type your message","MSGTYPE":true}',
    });
    const end = nalo.render({ text: 'Thank you', end: true }, turn);
    expect(JSON.parse(end.body)).toEqual({ USERID: 'NALOTest', MSISDN: MSISDN, USERDATA: '1', MSG: 'Thank you', MSGTYPE: false });
    const dial = nalo.parse(request({ USERDATA: '*920*1801#', MSGTYPE: true }), 'GH');
    expect(JSON.parse(nalo.render({ text: 'Hi', end: false }, dial).body)).toMatchObject({ USERDATA: '*920*1801#' });
  });

  it('refuses requests that are not Nalo’s', () => {
    expectInvalid(nalo, { ...request({}), contentType: 'application/x-www-form-urlencoded' }, /JSON/);
    expectInvalid(nalo, json(['USERID']), /JSON object/);
    expectInvalid(nalo, request({ USERID: undefined }), /USERID/);
    expectInvalid(nalo, request({ MSISDN: undefined }), /MSISDN/);
    expectInvalid(nalo, request({ MSISDN: '12' }), /MSISDN is not a phone number/);
    expectInvalid(nalo, request({ MSGTYPE: undefined }), /MSGTYPE/);
    expectInvalid(nalo, request({ MSGTYPE: 'yes' }), /MSGTYPE/);
    expectInvalid(nalo, request({ USERDATA: 1 }), /USERDATA/);
  });
});

describe('Nsano', () => {
  const nsano = nsanoAdapter;
  const request = (msg: string | undefined, extra: Record<string, unknown> = {}) => json({ network: 'MTN', msisdn: MSISDN, msg, UserSessionID: 'nsano-1', ...extra });

  it('parses a msg that is a dial string as the dial (input "") and anything else as an answer', () => {
    const dial = request('*920*1801#');
    expect(nsano.parse(dial, 'GH')).toEqual({
      gateway: 'nsano',
      sessionId: 'nsano-1',
      msisdn: E164,
      network: 'MTN',
      serviceCode: null,
      input: '',
      kind: 'initial',
      dedupe: 'initial:*920*1801#',
      raw: dial.body,
    });
    expect(nsano.parse(request('*714*55*1#'), 'GH')).toMatchObject({ kind: 'initial', input: '' });
    expect(nsano.parse(request('2'), 'GH')).toMatchObject({ kind: 'continue', input: '2', dedupe: 'continue:2' });
    expect(nsano.parse(request('*hello'), 'GH')).toMatchObject({ kind: 'continue', input: '*hello' });
    expect(nsano.parse(request(undefined, { network: undefined }), 'GH')).toMatchObject({ kind: 'continue', input: '', network: null });
  });

  it('reads the request wrapped in USSDReq too', () => {
    const wrapped = json({ USSDReq: { network: 'MTN', msisdn: MSISDN, msg: '1', UserSessionID: 'nsano-2' } });
    expect(nsano.parse(wrapped, 'GH')).toMatchObject({ sessionId: 'nsano-2', msisdn: E164, kind: 'continue', input: '1' });
  });

  it('answers USSDResp with action input to continue and prompt to end, the text in title and menus ""', () => {
    const turn = nsano.parse(request('1'), 'GH');
    expect(nsano.render({ text: 'Choose', end: false }, turn)).toEqual({
      status: 200,
      contentType: 'application/json',
      body: '{"USSDResp":{"action":"input","menus":"","title":"Choose"}}',
    });
    expect(JSON.parse(nsano.render({ text: 'Bye', end: true }, turn).body)).toEqual({ USSDResp: { action: 'prompt', menus: '', title: 'Bye' } });
  });

  it('refuses requests that are not Nsano’s', () => {
    expectInvalid(nsano, { ...request('1'), contentType: 'text/plain' }, /JSON/);
    expectInvalid(nsano, request('1', { UserSessionID: undefined }), /UserSessionID/);
    expectInvalid(nsano, request('1', { msisdn: undefined }), /msisdn/);
    expectInvalid(nsano, request('1', { msisdn: 'abc' }), /not a phone number/);
    expectInvalid(nsano, request('1', { msg: ['1'] }), /msg/);
  });
});

describe('Hubtel', () => {
  const hubtel = hubtelAdapter;
  const request = (fields: Record<string, unknown>) =>
    json({
      Type: 'Response',
      Mobile: MSISDN,
      SessionId: '8d440a43f0a14bb0a1f1b2d3c4e5f607',
      ServiceCode: '711*2',
      Message: '1',
      Operator: 'mtn',
      Sequence: 2,
      ClientState: '',
      Platform: 'USSD',
      ...fields,
    });

  it('parses Initiation (any case) as initial, the dialled string stripped, Sequence as dedupe', () => {
    const dial = request({ Type: 'initiation', Message: '*711*2#', Sequence: 1 });
    expect(hubtel.parse(dial, 'GH')).toEqual({
      gateway: 'hubtel',
      sessionId: '8d440a43f0a14bb0a1f1b2d3c4e5f607',
      msisdn: E164,
      network: 'mtn',
      serviceCode: '711*2',
      input: '',
      kind: 'initial',
      dedupe: '1',
      raw: dial.body,
    });
    expect(hubtel.parse(request({ Type: 'Initiation', Message: '*711*2#', Sequence: 1 }), 'GH').kind).toBe('initial');
  });

  it('parses Response as an answer (Sequence as a number or numeric string)', () => {
    expect(hubtel.parse(request({}), 'GH')).toMatchObject({ kind: 'continue', input: '1', dedupe: '2' });
    expect(hubtel.parse(request({ Type: 'RESPONSE', Message: 'hello', Sequence: '3' }), 'GH')).toMatchObject({ kind: 'continue', input: 'hello', dedupe: '3' });
  });

  it('maps Release and Timeout to kinds release and timeout, with no input', () => {
    expect(hubtel.parse(request({ Type: 'Release', Message: '', Sequence: 4 }), 'GH')).toMatchObject({ kind: 'release', input: '', dedupe: '4' });
    expect(hubtel.parse(request({ Type: 'timeout', Sequence: 4 }), 'GH')).toMatchObject({ kind: 'timeout', input: '' });
    // Without a Sequence (Hubtel's documentation does not promise one there) the kind is the dedupe value.
    expect(hubtel.parse(request({ Type: 'Release', Sequence: undefined }), 'GH')).toMatchObject({ kind: 'release', dedupe: 'release' });
  });

  it('answers Response to continue and Release to end, echoing SessionId and ClientState', () => {
    const turn = hubtel.parse(request({ ClientState: 'cursor-7' }), 'GH');
    expect(hubtel.render({ text: 'Type your message\n(max 100)', end: false }, turn)).toEqual({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify({
        SessionId: '8d440a43f0a14bb0a1f1b2d3c4e5f607',
        Type: 'Response',
        Message: 'Type your message\n(max 100)',
        Label: 'Type your message',
        ClientState: 'cursor-7',
        DataType: 'input',
        FieldType: 'text',
      }),
    });
    const end = JSON.parse(hubtel.render({ text: 'Thank you', end: true }, hubtel.parse(request({ ClientState: null }), 'GH')).body);
    expect(end).toMatchObject({ Type: 'Release', Message: 'Thank you', ClientState: '', DataType: 'display' });
  });

  it('refuses app-channel types and requests that are not Hubtel’s', () => {
    expectInvalid(hubtel, request({ Type: 'AddToCart' }), /Type/);
    expectInvalid(hubtel, request({ Type: 'constructor' }), /Type/);
    expectInvalid(hubtel, request({ Type: undefined }), /Type/);
    expectInvalid(hubtel, { ...request({}), contentType: 'application/x-www-form-urlencoded' }, /JSON/);
    expectInvalid(hubtel, request({ SessionId: '' }), /SessionId/);
    expectInvalid(hubtel, request({ Mobile: undefined }), /Mobile/);
    expectInvalid(hubtel, request({ Mobile: '233' }), /not a phone number/);
    expectInvalid(hubtel, request({ Sequence: undefined }), /Sequence/);
    expectInvalid(hubtel, request({ Sequence: 0 }), /Sequence/);
    expectInvalid(hubtel, request({ Message: 5 }), /Message/);
  });
});

describe('Arkesel', () => {
  const arkesel = arkeselAdapter;
  const request = (fields: Record<string, unknown>) =>
    json({ sessionID: 'ark-1', userID: 'ARKAPP', newSession: false, msisdn: MSISDN, userData: '1', network: 'MTN', ...fields });

  it('parses newSession true as the dial (the dial string stripped) and false as an answer', () => {
    const dial = request({ newSession: true, userData: '*928*1#' });
    expect(arkesel.parse(dial, 'GH')).toEqual({
      gateway: 'arkesel',
      sessionId: 'ark-1',
      msisdn: E164,
      network: 'MTN',
      serviceCode: null,
      input: '',
      kind: 'initial',
      dedupe: 'initial:*928*1#',
      raw: dial.body,
    });
    expect(arkesel.parse(request({}), 'GH')).toMatchObject({ kind: 'continue', input: '1', dedupe: 'continue:1' });
    expect(arkesel.parse(request({ newSession: 'true', userData: '*928*1#' }), 'GH')).toMatchObject({ kind: 'initial', input: '' });
  });

  it('answers JSON echoing sessionID, userID and msisdn as received, with message and continueSession', () => {
    const turn = arkesel.parse(request({}), 'GH');
    expect(arkesel.render({ text: 'Choose', end: false }, turn)).toEqual({
      status: 200,
      contentType: 'application/json',
      body: '{"sessionID":"ark-1","userID":"ARKAPP","msisdn":"233241234567","message":"Choose","continueSession":true}',
    });
    expect(JSON.parse(arkesel.render({ text: 'Bye', end: true }, turn).body)).toMatchObject({ message: 'Bye', continueSession: false });
  });

  it('refuses requests that are not Arkesel’s', () => {
    expectInvalid(arkesel, { ...request({}), contentType: 'application/x-www-form-urlencoded' }, /JSON/);
    expectInvalid(arkesel, request({ sessionID: undefined }), /sessionID/);
    expectInvalid(arkesel, request({ userID: undefined }), /userID/);
    expectInvalid(arkesel, request({ msisdn: undefined }), /msisdn/);
    expectInvalid(arkesel, request({ msisdn: '+1' }), /not a phone number/);
    expectInvalid(arkesel, request({ newSession: undefined }), /newSession/);
    expectInvalid(arkesel, request({ userData: null, newSession: 'maybe' }), /newSession/);
    expectInvalid(arkesel, request({ userData: 7 }), /userData/);
  });
});

describe.each([
  ['Emergent', emergentAdapter],
  ['Cross-switch', crossswitchAdapter],
] as const)('%s (Hubtel’s request format)', (label, adapter) => {
  const request = (fields: Record<string, unknown>) =>
    json({ Type: 'Response', Mobile: MSISDN, SessionId: 'em-1', ServiceCode: '714*5', Message: '1', Operator: 'MTN', Sequence: 2, ...fields });

  it('parses Initiation as the dial (the dialled string stripped) and Response as an answer', () => {
    const dial = request({ Type: 'Initiation', Message: '*714*5#', Sequence: 1 });
    expect(adapter.parse(dial, 'GH')).toEqual({
      gateway: adapter.name,
      sessionId: 'em-1',
      msisdn: E164,
      network: 'MTN',
      serviceCode: '714*5',
      input: '',
      kind: 'initial',
      dedupe: 'initial:1:*714*5#',
      raw: dial.body,
    });
    expect(adapter.parse(request({}), 'GH')).toMatchObject({ kind: 'continue', input: '1', dedupe: 'continue:2:1' });
    // Dial-ahead digits are not taken for an answer.
    expect(adapter.parse(request({ Type: 'initiation', Message: '*714*5*3#', Sequence: 1 }), 'GH')).toMatchObject({ kind: 'initial', input: '' });
  });

  it('needs no Sequence: without one the same answer twice has the same dedupe (the replay window decides), with one it does not', () => {
    expect(adapter.sequenced).toBe(false);
    const a = adapter.parse(request({ Sequence: undefined }), 'GH');
    expect(a).toMatchObject({ kind: 'continue', input: '1', dedupe: 'continue:1' });
    expect(adapter.parse(request({ Sequence: 3 }), 'GH').dedupe).not.toBe(adapter.parse(request({ Sequence: 4 }), 'GH').dedupe);
  });

  it('maps Release and Timeout to release and timeout, with no input', () => {
    expect(adapter.parse(request({ Type: 'Release', Message: '' }), 'GH')).toMatchObject({ kind: 'release', input: '' });
    expect(adapter.parse(request({ Type: 'Timeout' }), 'GH')).toMatchObject({ kind: 'timeout', input: '' });
  });

  it('answers JSON {Message, Type}: Response to continue, Release to end', () => {
    const turn = adapter.parse(request({}), 'GH');
    expect(adapter.render({ text: 'Type your message', end: false }, turn)).toEqual({ status: 200, contentType: 'application/json', body: '{"Message":"Type your message","Type":"Response"}' });
    expect(JSON.parse(adapter.render({ text: 'Bye', end: true }, turn).body)).toEqual({ Message: 'Bye', Type: 'Release' });
  });

  it('refuses requests that are not its format, naming the gateway', () => {
    expectInvalid(adapter, { ...request({}), contentType: 'application/x-www-form-urlencoded' }, new RegExp(`${label}.*JSON`));
    expectInvalid(adapter, request({ Type: 'AddToCart' }), new RegExp(`${label} Type`));
    expectInvalid(adapter, request({ SessionId: 5 }), /SessionId/);
    expectInvalid(adapter, request({ Mobile: undefined }), /Mobile/);
    expectInvalid(adapter, request({ Mobile: '233' }), /not a phone number/);
    expectInvalid(adapter, request({ Message: ['1'] }), /Message/);
  });
});

describe('Beem', () => {
  const beem = beemAdapter;
  const request = (fields: Record<string, unknown>, payload: Record<string, unknown> = { request_id: 1, response: '1' }) =>
    json({ command: 'continue', msisdn: '255712345678', session_id: '4574', operator: 'vodacom', payload, ...fields });

  it('parses initiate as the dial (its response 0 is no answer) and continue as an answer, in E.164 whatever the region', () => {
    const dial = request({ command: 'initiate' }, { request_id: 0, response: 0 });
    expect(beem.parse(dial, 'GH')).toEqual({
      gateway: 'beem',
      sessionId: '4574',
      msisdn: '+255712345678',
      network: 'vodacom',
      serviceCode: null,
      input: '',
      kind: 'initial',
      dedupe: 'initial:0:',
      raw: dial.body,
    });
    expect(beem.parse(request({}), 'GH')).toMatchObject({ kind: 'continue', input: '1', dedupe: 'continue:1:1' });
    // A numeric answer, an unquoted session id, and a local number in the integration's region.
    expect(beem.parse(request({ session_id: 4574, msisdn: '0712345678' }, { request_id: '2', response: 100 }), 'TZ')).toMatchObject({
      sessionId: '4574',
      msisdn: '+255712345678',
      input: '100',
      dedupe: 'continue:2:100',
    });
  });

  it('maps terminate to release, with no input and no payload needed', () => {
    expect(beem.parse(request({ command: 'terminate', payload: undefined }), 'TZ')).toMatchObject({ kind: 'release', input: '' });
  });

  it('answers JSON echoing msisdn, operator, session_id and request_id, the screen in payload.request', () => {
    const turn = beem.parse(request({}, { request_id: 7, response: '1' }), 'TZ');
    expect(beem.render({ text: 'Enter amount', end: false }, turn)).toEqual({
      status: 200,
      contentType: 'application/json',
      body: '{"msisdn":"255712345678","operator":"vodacom","session_id":"4574","command":"continue","payload":{"request_id":7,"request":"Enter amount"}}',
    });
    expect(JSON.parse(beem.render({ text: 'Bye', end: true }, turn).body)).toMatchObject({ command: 'terminate', payload: { request_id: 7, request: 'Bye' } });
  });

  it('refuses requests that are not Beem’s', () => {
    expectInvalid(beem, { ...request({}), contentType: 'application/x-www-form-urlencoded' }, /Beem.*JSON/);
    expectInvalid(beem, request({ command: 'begin' }), /command/);
    expectInvalid(beem, request({ command: undefined }), /command/);
    expectInvalid(beem, request({ session_id: '' }), /session_id/);
    expectInvalid(beem, request({ msisdn: undefined }), /msisdn/);
    expectInvalid(beem, request({ msisdn: '12' }), /not a phone number/);
    expectInvalid(beem, request({ payload: '1' }), /payload/);
    expectInvalid(beem, request({}, { request_id: 1, response: ['1'] }), /payload.response/);
  });
});

describe('Southpawsl', () => {
  const southpawsl = southpawslAdapter;
  const request = (fields: Record<string, unknown>) =>
    json({ sessionId: 'sp-1', msisdn: MSISDN, menuId: 'MENU9', ussdString: '*714*5#', inputOption: '2', network: 'MTN', ussdParameters: 'p=1', ...fields });

  it('parses the request whose inputOption is the dialled code as the dial, any other as an answer', () => {
    const dial = request({ inputOption: '*714*5#' });
    expect(southpawsl.parse(dial, 'GH')).toEqual({
      gateway: 'southpawsl',
      sessionId: 'sp-1',
      msisdn: E164,
      network: 'MTN',
      serviceCode: '*714*5#',
      input: '',
      kind: 'initial',
      dedupe: 'initial:*714*5#',
      raw: dial.body,
    });
    expect(southpawsl.parse(request({}), 'GH')).toMatchObject({ kind: 'continue', input: '2', dedupe: 'continue:2' });
    expect(southpawsl.parse(request({ inputOption: undefined }), 'GH')).toMatchObject({ kind: 'continue', input: '' });
  });

  it('answers JSON {message, state} echoing menuId, ussdString, the option and the parameters', () => {
    const turn = southpawsl.parse(request({}), 'GH');
    expect(southpawsl.render({ text: 'Choose', end: false }, turn)).toEqual({
      status: 200,
      contentType: 'application/json',
      body: '{"message":"Choose","state":"CONTINUE","menuId":"MENU9","ussdString":"*714*5#","option":"2","ussdParameter":"p=1"}',
    });
    expect(JSON.parse(southpawsl.render({ text: 'Bye', end: true }, turn).body)).toMatchObject({ message: 'Bye', state: 'END' });
  });

  it('refuses requests that are not Southpawsl’s', () => {
    expectInvalid(southpawsl, { ...request({}), contentType: 'text/plain' }, /Southpawsl.*JSON/);
    expectInvalid(southpawsl, request({ sessionId: undefined }), /sessionId/);
    expectInvalid(southpawsl, request({ msisdn: 233241234567 }), /msisdn/);
    expectInvalid(southpawsl, request({ msisdn: 'x' }), /not a phone number/);
    expectInvalid(southpawsl, request({ ussdString: '' }), /ussdString/);
    expectInvalid(southpawsl, request({ inputOption: 2 }), /inputOption/);
  });
});

describe('every adapter', () => {
  it('refuses a body that is not an object', () => {
    for (const adapter of Object.values(GATEWAY_ADAPTERS)) {
      for (const body of [null, 'text', 42]) {
        expectInvalid(adapter, { body, contentType: adapter.name === 'africastalking' ? 'application/x-www-form-urlencoded' : 'application/json', query: {}, method: 'POST' });
      }
    }
  });
});
