/**
 * Nsano (Ghana): JSON `msisdn, network, msg, UserSessionID`, with no new-session flag: the
 * first `msg` is the dial string. We answer `{"USSDResp": {action, menus: "", title}}`, where
 * action "input" continues and "prompt" ends. No first-party doc exists; this is the contract
 * three implementations agree on (docs/ussd-gateways.md, "Nsano").
 */
import { invalidPayload } from '../../engine/errors.ts';
import { msisdnToE164 } from '../../providers/phone.ts';
import type { GatewayAdapter, GatewayHttpRequest, UssdTurn } from '../types.ts';
import { isObject, jsonObject, latestInputTurn, optionalText } from './fields.ts';

/** ussd-go's initiation test (its `[\*|#]` meant `[*#]`). An answer typed as "*123#" reads as a re-dial. */
const DIAL_STRING = /^\*\d+[*#]/;

/** One simulator README wraps the request as `{"USSDReq": {...}}`; both shapes are read. */
function objectOf(request: GatewayHttpRequest): Record<string, unknown> {
  const body = jsonObject(request, 'Nsano');
  return isObject(body.USSDReq) ? body.USSDReq : body;
}

export const nsanoAdapter: GatewayAdapter = {
  name: 'nsano',
  pageBudget: 160,
  sequenced: false,

  parse(request, region): UssdTurn {
    const raw = objectOf(request);
    const sessionId = optionalText(raw.UserSessionID);
    const msg = raw.msg ?? '';
    if (!sessionId) throw invalidPayload('Nsano request without UserSessionID');
    if (typeof raw.msisdn !== 'string') throw invalidPayload('Nsano request without msisdn');
    if (typeof msg !== 'string') throw invalidPayload('Nsano msg must be a string');
    const msisdn = msisdnToE164(raw.msisdn, region);
    if (!msisdn) throw invalidPayload(`Nsano msisdn is not a phone number (region ${region})`);
    const initial = DIAL_STRING.test(msg);
    return latestInputTurn({ gateway: 'nsano', sessionId, msisdn, network: optionalText(raw.network), initial, input: msg, raw });
  },

  render(screen) {
    // The text goes in title with menus "" (flow_chat, laravel-ussd); ussd-go's "menus on end" variant is not followed.
    const body = { USSDResp: { action: screen.end ? 'prompt' : 'input', menus: '', title: screen.text } };
    return { status: 200, contentType: 'application/json', body: JSON.stringify(body) };
  },
};
