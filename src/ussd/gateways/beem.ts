/**
 * Beem (Tanzania): JSON `command` (initiate / continue / terminate), `msisdn` (international,
 * no '+'), `operator`, `session_id`, `payload: {request_id, response}`, where `response` is the
 * subscriber's answer (0 on initiate: no dial string is sent). We answer JSON echoing msisdn,
 * operator and session_id with `command` continue or terminate and `payload: {request_id,
 * request: <screen>}`. Sources and what is unconfirmed: docs/guides/ussd-helpline.md.
 */
import { invalidPayload } from '../../engine/errors.ts';
import { msisdnToE164 } from '../../providers/phone.ts';
import type { GatewayAdapter, TurnKind, UssdTurn } from '../types.ts';
import { isObject, jsonObject, optionalText } from './fields.ts';

const KINDS = new Map<string, TurnKind>([
  ['initiate', 'initial'],
  ['continue', 'continue'],
  ['terminate', 'release'],
]);


export const beemAdapter: GatewayAdapter = {
  name: 'beem',
  pageBudget: 160,
  // request_id numbers hops in the samples, but no document says so: it only tells a repeated answer from a replay.
  sequenced: false,

  parse(request, region): UssdTurn {
    const raw = jsonObject(request, 'Beem');
    const kind = typeof raw.command === 'string' ? KINDS.get(raw.command.toLowerCase()) : undefined;
    if (!kind) throw invalidPayload('Beem command must be initiate, continue or terminate');
    const sessionId = optionalText(raw.session_id);
    if (!sessionId) throw invalidPayload('Beem request without session_id');
    const given = optionalText(raw.msisdn);
    if (!given) throw invalidPayload('Beem request without msisdn');
    const payload = raw.payload ?? {};
    if (!isObject(payload)) throw invalidPayload('Beem payload must be an object');
    // The answer may come as a number (0 on initiate in every sample).
    const response = payload.response ?? '';
    if (typeof response !== 'string' && typeof response !== 'number') throw invalidPayload('Beem payload.response must be a string or a number');
    const answer = String(response);
    const msisdn = msisdnToE164(given, region);
    if (!msisdn) throw invalidPayload(`Beem msisdn is not a phone number (region ${region})`);
    const input = kind === 'continue' ? answer : '';
    return {
      gateway: 'beem',
      sessionId,
      msisdn,
      network: optionalText(raw.operator),
      serviceCode: null,
      kind,
      input,
      dedupe: `${kind}:${optionalText(payload.request_id) ?? ''}:${input}`,
      raw,
    };
  },

  render(screen, turn) {
    const { msisdn, operator, session_id: sessionId } = turn.raw;
    const requestId = isObject(turn.raw.payload) ? turn.raw.payload.request_id : undefined;
    const body = {
      msisdn,
      operator,
      session_id: sessionId,
      command: screen.end ? 'terminate' : 'continue',
      payload: { request_id: requestId ?? 0, request: screen.text },
    };
    return { status: 200, contentType: 'application/json', body: JSON.stringify(body) };
  },
};
