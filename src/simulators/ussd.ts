/**
 * The gateway side of USSD: posts to a URL the requests Africa's Talking, Nalo, Nsano, Hubtel,
 * Arkesel, Emergent, Beem, Southpawsl and Cross-switch send (one per keypress, each in its own
 * wire format, plus AT's end-of-session notification, Hubtel's Release/Timeout and Beem's
 * terminate) and reads each answer back into a Screen, so a whole session can be driven from a
 * test, a script or `switchboard ussd try` (reference ussd-gateways.md §2–§6; the four later
 * gateways: docs/guides/ussd-helpline.md).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { request } from 'undici';
import type { GatewayName, Screen, TurnKind } from '../ussd/types.ts';

export interface UssdDial {
  gateway: GatewayName;
  /** International, with or without '+'; each gateway writes it its own way (AT "+233…", the others "233…"). */
  msisdn: string;
  /** The dial string, e.g. "*920*1801#" (default: AT "*384*1234#", the others "*920*1801#"). */
  serviceCode?: string;
  /** AT: MCC+MNC (default "99999", AT's sandbox); Hubtel: "mtn"; Beem: "vodacom"; the others: "MTN". */
  network?: string;
  /** Nalo's USERID / Arkesel's userID / Southpawsl's menuId (default "SIMUSER1"). */
  userId?: string;
}

export interface UssdHop {
  request: { contentType: string; body: string };
  status: number;
  /** Media type without parameters, lower-case. */
  contentType: string;
  body: string;
  /** Parsed back from the gateway's response; an HTTP error ends the session with an empty screen. */
  screen: Screen;
}

export interface UssdSession {
  /** The gateway's session id as sent (Nalo: SESSIONID). */
  sessionId: string;
  hops: UssdHop[];
  ended: boolean;
  send(input: string): Promise<UssdHop>;
  /** Hubtel's Release, Beem's terminate, or AT's end-of-session notification (Success once we ended it, else Incomplete); null elsewhere. */
  release(): Promise<UssdHop | null>;
  /** Hubtel's Timeout, or AT's end-of-session notification with status Failed; null elsewhere. */
  timeout(): Promise<UssdHop | null>;
}

/** Everything one request is built from. */
export interface GatewayRequestState {
  kind: TurnKind;
  /** The gateway's session id (Nalo: SESSIONID). */
  sessionId: string;
  /** As in UssdDial. */
  msisdn: string;
  /** What the user typed after the dial, oldest first: a continue sends the last one (AT: all, joined with '*'). */
  inputs: readonly string[];
  serviceCode?: string;
  network?: string;
  /** Hubtel's and Emergent's Sequence, Beem's request_id (default: 1 on initiation, then one more per request; Beem from 0). */
  sequence?: number;
  /** Hubtel: the ClientState of our last answer (default ""). */
  clientState?: string;
  /** Nalo's USERID / Arkesel's userID / Southpawsl's menuId: the integrator's constant id (default "SIMUSER1"). */
  userId?: string;
  /** AT notifications: our last answer as sent ("CON …"/"END …"), the session's length, and whether we ended it. */
  lastResponse?: string;
  durationMs?: number;
  completed?: boolean;
}

const FORM = 'application/x-www-form-urlencoded';
const DEFAULT_USER_ID = 'SIMUSER1';

const DEFAULTS: Record<GatewayName, { serviceCode: string; network: string }> = {
  africastalking: { serviceCode: '*384*1234#', network: '99999' },
  nalo: { serviceCode: '*920*1801#', network: 'MTN' },
  nsano: { serviceCode: '*920*1801#', network: 'MTN' },
  hubtel: { serviceCode: '*920*1801#', network: 'mtn' },
  arkesel: { serviceCode: '*920*1801#', network: 'MTN' },
  emergent: { serviceCode: '*920*1801#', network: 'MTN' },
  beem: { serviceCode: '*150*00#', network: 'vodacom' },
  southpawsl: { serviceCode: '*920*1801#', network: 'MTN' },
  crossswitch: { serviceCode: '*920*1801#', network: 'MTN' },
};

/**
 * Which gateways tell us a session ended (§8.3): AT, Hubtel, and Beem (terminate; it has no
 * timeout). Nalo, Nsano and Arkesel send nothing; for Emergent, Southpawsl and Cross-switch no
 * source shows an end notification, so none is simulated.
 */
const sendsEvents = (gateway: GatewayName, kind: TurnKind) =>
  gateway === 'africastalking' || gateway === 'hubtel' || (gateway === 'beem' && kind === 'release');

/** The fields a gateway expects back unchanged (§3, §6); a session fails loudly when one is not. */
const ECHOED: Partial<Record<GatewayName, readonly string[]>> = {
  nalo: ['USERID', 'MSISDN', 'USERDATA'],
  arkesel: ['sessionID', 'userID', 'msisdn'],
  beem: ['msisdn', 'operator', 'session_id'],
  southpawsl: ['menuId', 'ussdString'],
};

/** Ids shaped like each gateway's: AT "ATUid_…", Nalo 17 digits (live traffic), Hubtel a 32-hex GUID. */
function newSessionId(gateway: GatewayName): string {
  if (gateway === 'africastalking') return `ATUid_${randomBytes(16).toString('hex')}`;
  if (gateway === 'nalo') return `${Date.now()}${String(randomInt(10_000)).padStart(4, '0')}`;
  return randomBytes(16).toString('hex');
}

/** AT's notification date: `yyyy-MM-dd HH:mm:ss` (UTC here; AT does not say which zone). */
const atDate = (date: Date) => date.toISOString().slice(0, 19).replace('T', ' ');

const json = (body: Record<string, unknown>) => ({ contentType: 'application/json', body: JSON.stringify(body) });
const form = (fields: Record<string, string>) => ({ contentType: FORM, body: new URLSearchParams(fields).toString() });

/** One request exactly as `gateway` sends it (field names, order and types from the reference). */
export function gatewayRequest(gateway: GatewayName, state: GatewayRequestState): { contentType: string; body: string } {
  const { kind, sessionId, inputs } = state;
  const digits = state.msisdn.replace(/^\+/, '');
  const serviceCode = state.serviceCode ?? DEFAULTS[gateway].serviceCode;
  const network = state.network ?? DEFAULTS[gateway].network;
  const userId = state.userId ?? DEFAULT_USER_ID;
  const initial = kind === 'initial';
  const answer = inputs.at(-1) ?? '';
  if ((kind === 'release' || kind === 'timeout') && !sendsEvents(gateway, kind)) throw new Error(`${gateway} sends no ${kind} request`);
  const sequence = state.sequence ?? (initial ? 1 : inputs.length + (kind === 'continue' ? 1 : 2));

  switch (gateway) {
    case 'africastalking': {
      const phoneNumber = `+${digits}`;
      if (kind === 'initial' || kind === 'continue') return form({ sessionId, serviceCode, phoneNumber, networkCode: network, text: inputs.join('*') });
      const status = kind === 'timeout' ? 'Failed' : state.completed ? 'Success' : 'Incomplete';
      return form({
        date: atDate(new Date()),
        sessionId,
        serviceCode,
        networkCode: network,
        phoneNumber,
        status,
        cost: 'KES 0.00',
        durationInMillis: String(state.durationMs ?? 0),
        hopsCount: String(inputs.length + 1),
        input: inputs.join('*'),
        lastAppResponse: state.lastResponse ?? '',
        // Illustrative: the reference gives no example errorMessage.
        errorMessage: status === 'Failed' ? 'Application response timeout' : '',
      });
    }
    case 'nalo':
      return json({ USERID: userId, MSISDN: digits, USERDATA: initial ? serviceCode : answer, MSGTYPE: initial, NETWORK: network, SESSIONID: sessionId });
    case 'nsano':
      return json({ network, msisdn: digits, msg: initial ? serviceCode : answer, UserSessionID: sessionId });
    case 'hubtel': {
      const type = HUBTEL_TYPES[kind];
      return json({
        Type: type,
        Mobile: digits,
        SessionId: sessionId,
        // The short code without its '*' and '#' ("711*2" in Hubtel's docs); Message carries the dial string.
        ServiceCode: serviceCode.replace(/^\*|#$/g, ''),
        Message: initial ? serviceCode : kind === 'continue' ? answer : '',
        Operator: network,
        Sequence: sequence,
        ClientState: state.clientState ?? '',
        Platform: 'USSD',
      });
    }
    case 'arkesel':
      return json({ sessionID: sessionId, userID: userId, newSession: initial, msisdn: digits, userData: initial ? serviceCode : answer, network });
    // Emergent's fields are Hubtel's; whether it numbers hops is not documented, so the simulator does.
    case 'emergent':
    case 'crossswitch':
      return json({ Type: HUBTEL_TYPES[kind], Mobile: digits, SessionId: sessionId, ServiceCode: serviceCode.replace(/^\*|#$/g, ''), Message: initial ? serviceCode : answer, Operator: network, Sequence: sequence });
    case 'beem': {
      const command = { initial: 'initiate', continue: 'continue', release: 'terminate', timeout: 'terminate' }[kind];
      // Every sample sends response 0 on initiate, and request_id from 0.
      return json({ command, msisdn: digits, session_id: sessionId, operator: network, payload: { request_id: sequence - 1, response: kind === 'continue' ? answer : 0 } });
    }
    case 'southpawsl':
      return json({ sessionId, msisdn: digits, menuId: userId, ussdString: serviceCode, inputOption: initial ? serviceCode : answer, network, ussdParameters: '' });
  }
}

const HUBTEL_TYPES = { initial: 'Initiation', continue: 'Response', release: 'Release', timeout: 'Timeout' } as const;

function jsonObject(gateway: GatewayName, contentType: string, body: string): Record<string, unknown> {
  if (contentType !== 'application/json') throw new Error(`${gateway} expects application/json, got "${contentType}"`);
  const value: unknown = JSON.parse(body);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${gateway} expects a JSON object`);
  return value as Record<string, unknown>;
}

/** Read an answer as the gateway would; throws on one it would reject as malformed. */
export function parseGatewayResponse(gateway: GatewayName, contentType: string, body: string): Screen {
  const malformed = (what: string) => new Error(`malformed ${gateway} answer: ${what}`);
  switch (gateway) {
    case 'africastalking': {
      if (contentType !== 'text/plain') throw malformed(`content type "${contentType}", not text/plain`);
      const prefix = /^(CON|END)(?: |$)/.exec(body);
      if (!prefix) throw malformed('it does not begin with CON or END');
      return { text: body.slice(prefix[0].length), end: prefix[1] === 'END' };
    }
    case 'nalo': {
      const { MSG, MSGTYPE } = jsonObject(gateway, contentType, body);
      if (typeof MSG !== 'string' || typeof MSGTYPE !== 'boolean') throw malformed('MSG must be a string and MSGTYPE a boolean');
      return { text: MSG, end: !MSGTYPE };
    }
    case 'nsano': {
      const response = jsonObject(gateway, contentType, body).USSDResp as Record<string, unknown> | null | undefined;
      const action = response?.action;
      if (typeof response?.title !== 'string' || (action !== 'input' && action !== 'prompt')) throw malformed('USSDResp needs a title and action input or prompt');
      return { text: response.title, end: action === 'prompt' };
    }
    case 'hubtel':
      return hubtelScreen(jsonObject(gateway, contentType, body), malformed);
    case 'arkesel': {
      const { message, continueSession } = jsonObject(gateway, contentType, body);
      if (typeof message !== 'string' || typeof continueSession !== 'boolean') throw malformed('message must be a string and continueSession a boolean');
      return { text: message, end: !continueSession };
    }
    case 'emergent':
    case 'crossswitch':
      return hubtelScreen(jsonObject(gateway, contentType, body), malformed);
    case 'beem': {
      const { command, payload } = jsonObject(gateway, contentType, body);
      const text = (payload as Record<string, unknown> | null | undefined)?.request;
      if (typeof text !== 'string' || (command !== 'continue' && command !== 'terminate')) throw malformed('payload.request must be a string and command continue or terminate');
      return { text, end: command === 'terminate' };
    }
    case 'southpawsl': {
      const { message, state } = jsonObject(gateway, contentType, body);
      if (typeof message !== 'string' || (state !== 'CONTINUE' && state !== 'END')) throw malformed('message must be a string and state CONTINUE or END');
      return { text: message, end: state === 'END' };
    }
  }
}

/** Hubtel's answer, which Emergent and Cross-switch read the same way. */
function hubtelScreen({ Type, Message }: Record<string, unknown>, malformed: (what: string) => Error): Screen {
  const type = typeof Type === 'string' ? Type.toLowerCase() : '';
  if (typeof Message !== 'string' || (type !== 'response' && type !== 'release')) throw malformed('Message must be a string and Type Response or Release');
  return { text: Message, end: type === 'release' };
}

/** Throws when an answer changes a field the gateway expects back unchanged. */
function checkEcho(gateway: GatewayName, requestBody: string, responseBody: string): void {
  const fields = ECHOED[gateway];
  if (!fields) return;
  const sent = JSON.parse(requestBody) as Record<string, unknown>;
  const answered = JSON.parse(responseBody) as Record<string, unknown>;
  for (const field of fields) {
    if (answered[field] !== sent[field]) throw new Error(`${gateway} answer does not echo ${field} unchanged`);
  }
}

/** Hubtel sends back the ClientState of our last answer, once (§5). */
function hubtelClientState(responseBody: string): string {
  const { ClientState } = JSON.parse(responseBody) as Record<string, unknown>;
  return typeof ClientState === 'string' ? ClientState : '';
}

async function post(url: string, body: { contentType: string; body: string }): Promise<{ status: number; contentType: string; body: string }> {
  const response = await request(url, { method: 'POST', headers: { 'content-type': body.contentType }, body: body.body });
  const header = response.headers['content-type'];
  const contentType = (Array.isArray(header) ? header[0] : header) ?? '';
  return { status: response.statusCode, contentType: contentType.split(';')[0]!.trim().toLowerCase(), body: await response.body.text() };
}

/** Dial: post the gateway's initial request (the dial string where that gateway sends it) and return the session. */
export async function dial(url: string, options: UssdDial): Promise<{ session: UssdSession; first: UssdHop }> {
  const { gateway } = options;
  const startedAt = Date.now();
  const inputs: string[] = [];
  let sequence = 0;
  let clientState = '';
  let lastResponse = '';
  let completed = false;

  async function hop(kind: TurnKind): Promise<UssdHop> {
    sequence += 1;
    const sent = gatewayRequest(gateway, {
      kind,
      sessionId: session.sessionId,
      msisdn: options.msisdn,
      inputs,
      serviceCode: options.serviceCode,
      network: options.network,
      userId: options.userId,
      sequence,
      clientState,
      lastResponse,
      durationMs: Date.now() - startedAt,
      completed,
    });
    const answer = await post(url, sent);
    // Gateways end the session on an HTTP error (AT: "terminate the USSD session gracefully", §2).
    const screen = answer.status === 200 ? parseGatewayResponse(gateway, answer.contentType, answer.body) : { text: '', end: true };
    if (answer.status === 200) {
      checkEcho(gateway, sent.body, answer.body);
      if (gateway === 'hubtel') clientState = hubtelClientState(answer.body);
      lastResponse = answer.body;
      completed ||= screen.end && (kind === 'initial' || kind === 'continue');
    }
    const result: UssdHop = { request: sent, status: answer.status, contentType: answer.contentType, body: answer.body, screen };
    session.hops.push(result);
    session.ended ||= screen.end;
    return result;
  }

  const session: UssdSession = {
    sessionId: newSessionId(gateway),
    hops: [],
    ended: false,
    async send(input) {
      if (session.ended) throw new Error('the USSD session has ended');
      inputs.push(input);
      return hop('continue');
    },
    release: async () => (sendsEvents(gateway, 'release') ? hop('release') : null),
    timeout: async () => (sendsEvents(gateway, 'timeout') ? hop('timeout') : null),
  };
  const first = await hop('initial');
  return { session, first };
}
