/**
 * Africa's Talking (and its clones): a form POST per hop whose `text` holds every input of
 * the session joined with `*`; we answer text/plain `CON <text>` (continue) or `END <text>`.
 * AT's events callback posts a form saying how each session ended; it comes to the same
 * URL here (docs/ussd-gateways.md, "Africa's Talking").
 */
import { invalidPayload } from '../../engine/errors.ts';
import { msisdnToE164 } from '../../providers/phone.ts';
import type { GatewayAdapter, GatewayHttpRequest, UssdTurn } from '../types.ts';

const FORM = 'application/x-www-form-urlencoded';

/** AT only posts forms (the route passes a GET's query as one), so every field is a string. */
function formOf(request: GatewayHttpRequest): Record<string, string> {
  const { body } = request;
  const isStringRecord =
    typeof body === 'object' && body !== null && !Array.isArray(body) && Object.values(body).every((value) => typeof value === 'string');
  if (request.contentType !== FORM || !isStringRecord) throw invalidPayload(`an Africa's Talking request is a form (${FORM})`);
  return body as Record<string, string>;
}

export const africastalkingAdapter: GatewayAdapter = {
  name: 'africastalking',
  pageBudget: 160,
  sequenced: true,

  // "text" joins every answer with '*', so an answer containing '*' only splits right
  // against the previous hop's text.
  inputAfter(turn, previous) {
    return previous !== null && turn.dedupe.startsWith(`${previous}*`) ? turn.dedupe.slice(previous.length + 1) : turn.input;
  },

  parse(request, region): UssdTurn {
    const raw = formOf(request);
    const { sessionId, phoneNumber, text, status } = raw;
    if (!sessionId) throw invalidPayload("Africa's Talking request without sessionId");
    const msisdn = msisdnToE164(phoneNumber, region);
    if (!msisdn) throw invalidPayload(`Africa's Talking phoneNumber is not a phone number (region ${region})`);
    const common = { gateway: 'africastalking', sessionId, msisdn, network: raw.networkCode || null, serviceCode: raw.serviceCode || null, raw } as const;

    if (text !== undefined) {
      // The same cumulative text twice is a replay ("Repeated hops"). With dial-ahead (*384*1234*3#)
      // the first hop already has text, so it arrives as a continue.
      return { ...common, kind: text === '' ? 'initial' : 'continue', input: text.split('*').at(-1) ?? '', dedupe: text };
    }
    if (status) {
      // End-of-session notification. Failed = AT ended it over our error or slow
      // answer, which is what kind 'timeout' means (the gateway gave up on us); Success and
      // Incomplete (the user stopped answering or hung up), or any newer status, are 'release'.
      return { ...common, kind: status === 'Failed' ? 'timeout' : 'release', input: '', dedupe: status };
    }
    throw invalidPayload("Africa's Talking request with neither text (a hop) nor status (an end-of-session notification)");
  },

  render(screen) {
    // AT ignores the body of its end-of-session notifications; answering END there too keeps one format.
    return { status: 200, contentType: 'text/plain', body: `${screen.end ? 'END' : 'CON'} ${screen.text}` };
  },
};
