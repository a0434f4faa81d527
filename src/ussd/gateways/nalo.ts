/**
 * Nalo Solutions (Ghana, Nigeria): JSON `USERID, MSISDN, USERDATA, MSGTYPE, NETWORK, SESSIONID?`;
 * we answer JSON echoing USERID, MSISDN and USERDATA with `MSG` and `MSGTYPE` (true = continue).
 * Sessions are keyed on the MSISDN (plus SESSIONID when present), never on USERID, which is
 * the integrator's constant id (docs/ussd-gateways.md, "Nalo").
 */
import { invalidPayload } from '../../engine/errors.ts';
import { msisdnToE164 } from '../../providers/phone.ts';
import type { GatewayAdapter, UssdTurn } from '../types.ts';
import { jsonObject, flagOf, latestInputTurn, optionalText } from './fields.ts';

export const naloAdapter: GatewayAdapter = {
  name: 'nalo',
  // Nalo's MSG limit is 120 characters per a third-party summary of its documentation.
  pageBudget: 120,
  sequenced: false,

  parse(request, region): UssdTurn {
    const raw = jsonObject(request, 'Nalo');
    const { USERID, MSISDN } = raw;
    const initial = flagOf(raw.MSGTYPE);
    // USERDATA may be left out when the user sent nothing (flow_chat reads it as empty).
    const userData = raw.USERDATA ?? '';
    if (typeof USERID !== 'string' || !USERID) throw invalidPayload('Nalo request without USERID');
    if (typeof MSISDN !== 'string') throw invalidPayload('Nalo request without MSISDN');
    if (initial === null) throw invalidPayload('Nalo MSGTYPE must be true or false');
    if (typeof userData !== 'string') throw invalidPayload('Nalo USERDATA must be a string');
    const msisdn = msisdnToE164(MSISDN, region);
    if (!msisdn) throw invalidPayload(`Nalo MSISDN is not a phone number (region ${region})`);
    const sessionSuffix = optionalText(raw.SESSIONID);
    // Keyed on the caller (plus SESSIONID when sent), never on USERID, which is the integrator's.
    const sessionId = sessionSuffix ? `${msisdn}:${sessionSuffix}` : msisdn;
    return latestInputTurn({ gateway: 'nalo', sessionId, msisdn, network: optionalText(raw.NETWORK), initial, input: userData, raw });
  },

  render(screen, turn) {
    // Echo as received; USERDATA too, as Nalo's sample does (five fields).
    const { USERID, MSISDN, USERDATA } = turn.raw;
    const body = { USERID, MSISDN, USERDATA: USERDATA ?? '', MSG: screen.text, MSGTYPE: !screen.end };
    return { status: 200, contentType: 'application/json', body: JSON.stringify(body) };
  },
};
