/**
 * Arkesel (Ghana): JSON `sessionID, userID, newSession, msisdn, userData, network`, the first
 * userData being the dial string. We answer JSON echoing sessionID, userID and msisdn with
 * `message` and `continueSession` (true = continue) (docs/ussd-gateways.md, "Arkesel").
 */
import { invalidPayload } from '../../engine/errors.ts';
import { msisdnToE164 } from '../../providers/phone.ts';
import type { GatewayAdapter, UssdTurn } from '../types.ts';
import { jsonObject, flagOf, latestInputTurn, optionalText } from './fields.ts';

export const arkeselAdapter: GatewayAdapter = {
  name: 'arkesel',
  pageBudget: 160,
  sequenced: false,

  parse(request, region): UssdTurn {
    const raw = jsonObject(request, 'Arkesel');
    const sessionId = optionalText(raw.sessionID);
    const initial = flagOf(raw.newSession);
    const userData = raw.userData ?? '';
    if (!sessionId) throw invalidPayload('Arkesel request without sessionID');
    // userID is echoed back, and is the constant worth checking ("Authentication").
    if (typeof raw.userID !== 'string' || !raw.userID) throw invalidPayload('Arkesel request without userID');
    if (typeof raw.msisdn !== 'string') throw invalidPayload('Arkesel request without msisdn');
    if (initial === null) throw invalidPayload('Arkesel newSession must be true or false');
    if (typeof userData !== 'string') throw invalidPayload('Arkesel userData must be a string');
    const msisdn = msisdnToE164(raw.msisdn, region);
    if (!msisdn) throw invalidPayload(`Arkesel msisdn is not a phone number (region ${region})`);
    return latestInputTurn({ gateway: 'arkesel', sessionId, msisdn, network: optionalText(raw.network), initial, input: userData, raw });
  },

  render(screen, turn) {
    const { sessionID, userID, msisdn } = turn.raw;
    const body = { sessionID, userID, msisdn, message: screen.text, continueSession: !screen.end };
    return { status: 200, contentType: 'application/json', body: JSON.stringify(body) };
  },
};
