/**
 * Nalo Solutions (Ghana, Nigeria): JSON `USERID, MSISDN, USERDATA, MSGTYPE, NETWORK, SESSIONID?`;
 * we answer JSON echoing USERID, MSISDN and USERDATA with `MSG` and `MSGTYPE` (true = continue).
 * Sessions are keyed on the MSISDN (plus SESSIONID when present), never on USERID, which is
 * the integrator's constant id (reference ussd-gateways.md §1.3, §3, §8.1, §9 item 1).
 */
import { invalidPayload } from '../../engine/errors.ts';
import { toE164 } from '../../providers/phone.ts';
import type { GatewayAdapter, GatewayHttpRequest, UssdTurn } from '../types.ts';

function objectOf(request: GatewayHttpRequest): Record<string, unknown> {
  const { body } = request;
  if (request.contentType !== 'application/json' || typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidPayload('a Nalo request is a JSON object (application/json)');
  }
  return body as Record<string, unknown>;
}

/** MSGTYPE is documented as a boolean; some integrators see 1 or "true" (§3). */
function flagOf(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === 'string' && /^(true|false|1|0)$/i.test(value.trim())) return /^(true|1)$/i.test(value.trim());
  return null;
}

/** A present, non-empty id or label; numbers (a SESSIONID sent unquoted) as their decimal text. */
function optionalText(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value !== '' ? value : null;
}

export const naloAdapter: GatewayAdapter = {
  name: 'nalo',
  // Nalo's MSG limit is 120 characters per a third-party summary of its doc (§3, §8.1).
  pageBudget: 120,
  sequenced: false,

  parse(request, region): UssdTurn {
    const raw = objectOf(request);
    const { USERID, MSISDN } = raw;
    const initial = flagOf(raw.MSGTYPE);
    // USERDATA may be left out when the user sent nothing (flow_chat reads it as `presence || ""`, §1.3).
    const userData = raw.USERDATA ?? '';
    if (typeof USERID !== 'string' || !USERID) throw invalidPayload('Nalo request without USERID');
    if (typeof MSISDN !== 'string') throw invalidPayload('Nalo request without MSISDN');
    if (initial === null) throw invalidPayload('Nalo MSGTYPE must be true or false');
    if (typeof userData !== 'string') throw invalidPayload('Nalo USERDATA must be a string');
    const msisdn = toE164(MSISDN, region);
    if (!msisdn) throw invalidPayload(`Nalo MSISDN is not a phone number (region ${region})`);
    const sessionSuffix = optionalText(raw.SESSIONID);
    return {
      gateway: 'nalo',
      sessionId: sessionSuffix ? `${msisdn}:${sessionSuffix}` : msisdn,
      msisdn,
      network: optionalText(raw.NETWORK),
      // Nalo sends no service code; the dial string only appears in the first USERDATA.
      serviceCode: null,
      kind: initial ? 'initial' : 'continue',
      // On the dial USERDATA is the dial string or extension ("*920*1801#", "9"), not an answer.
      input: initial ? '' : userData,
      // Nalo numbers no hops: the same answer twice in one session gives the same value, so
      // whether that is a replay is for the caller's de-duplication window to decide.
      dedupe: `${initial ? 'initial' : 'continue'}:${userData}`,
      raw,
    };
  },

  render(screen, turn) {
    // Echo as received; USERDATA too, as Nalo's sample does ("exactly five fields", §3).
    const { USERID, MSISDN, USERDATA } = turn.raw;
    const body = { USERID, MSISDN, USERDATA: USERDATA ?? '', MSG: screen.text, MSGTYPE: !screen.end };
    return { status: 200, contentType: 'application/json', body: JSON.stringify(body) };
  },
};
