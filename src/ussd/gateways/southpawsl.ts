/**
 * Southpawsl (Ghana): JSON `sessionId, msisdn, menuId, ussdString, inputOption, network,
 * ussdParameters`; `ussdString` is the dialled code, and the first request's `inputOption`
 * repeats it. We answer JSON `{message, state}` (CONTINUE or END) echoing menuId, ussdString,
 * the option typed and the parameters (as `ussdParameter`). Only one third-party source was
 * found; see docs/guides/ussd-helpline.md.
 */
import { invalidPayload } from '../../engine/errors.ts';
import { msisdnToE164 } from '../../providers/phone.ts';
import type { GatewayAdapter, UssdTurn } from '../types.ts';
import { jsonObject, latestInputTurn, optionalText } from './fields.ts';

export const southpawslAdapter: GatewayAdapter = {
  name: 'southpawsl',
  pageBudget: 160,
  sequenced: false,

  parse(request, region): UssdTurn {
    const raw = jsonObject(request, 'Southpawsl');
    const sessionId = optionalText(raw.sessionId);
    const option = raw.inputOption ?? '';
    if (!sessionId) throw invalidPayload('Southpawsl request without sessionId');
    if (typeof raw.msisdn !== 'string') throw invalidPayload('Southpawsl request without msisdn');
    if (typeof raw.ussdString !== 'string' || !raw.ussdString) throw invalidPayload('Southpawsl request without ussdString');
    if (typeof option !== 'string') throw invalidPayload('Southpawsl inputOption must be a string');
    const msisdn = msisdnToE164(raw.msisdn, region);
    if (!msisdn) throw invalidPayload(`Southpawsl msisdn is not a phone number (region ${region})`);
    // No new-session flag: the dial is the request whose option is the dialled code itself.
    const turn = latestInputTurn({ gateway: 'southpawsl', sessionId, msisdn, network: optionalText(raw.network), initial: option === raw.ussdString, input: option, raw });
    return { ...turn, serviceCode: raw.ussdString };
  },

  render(screen, turn) {
    const { menuId, ussdString, inputOption, ussdParameters } = turn.raw;
    const body = { message: screen.text, state: screen.end ? 'END' : 'CONTINUE', menuId, ussdString, option: inputOption ?? '', ussdParameter: ussdParameters };
    return { status: 200, contentType: 'application/json', body: JSON.stringify(body) };
  },
};
