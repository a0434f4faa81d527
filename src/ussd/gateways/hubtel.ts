/**
 * Hubtel Programmable Services (Ghana): JSON with `Type` Initiation / Response / Release (the
 * user ended) / Timeout (we were too slow), `Mobile`, `SessionId`, `ServiceCode`, `Message`,
 * `Operator`, `Sequence`, `ClientState`. We answer JSON `Type` Response (continue) or Release
 * (end) with `Message`, echoing SessionId and ClientState (docs/ussd-gateways.md, "Hubtel").
 */
import { invalidPayload } from '../../engine/errors.ts';
import { msisdnToE164 } from '../../providers/phone.ts';
import type { GatewayAdapter, GatewayName, TurnKind, UssdTurn } from '../types.ts';
import { jsonObject, optionalText } from './fields.ts';

/** Hubtel's types by lower-cased name (its docs write "initiation", its SDK "Initiation"). */
const KINDS = new Map<string, TurnKind>([
  ['initiation', 'initial'],
  ['response', 'continue'],
  ['release', 'release'],
  ['timeout', 'timeout'],
]);

/** Sequence is an int in Hubtel's SDK; a numeric string is read too. */
function sequenceOf(value: unknown): number | null {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : null;
}

/**
 * Hubtel's request, which Emergent Technology and Cross-switch send too (docs/guides/ussd-helpline.md):
 * `sequenced` gateways must number their flow hops (Sequence is the dedupe value); the
 * others may, and then the number only tells a repeated answer from a replay.
 */
export function hubtelStyleTurn(raw: Record<string, unknown>, region: string, gateway: GatewayName, label: string, sequenced: boolean): UssdTurn {
  const { Type, SessionId, Mobile } = raw;
  const message = raw.Message ?? '';
  const kind = typeof Type === 'string' ? KINDS.get(Type.toLowerCase()) : undefined;
  // AddToCart, Query and Favorite come from Hubtel's app channels, not USSD.
  if (!kind) throw invalidPayload(`${label} Type must be Initiation, Response, Release or Timeout`);
  if (typeof SessionId !== 'string' || !SessionId) throw invalidPayload(`${label} request without SessionId`);
  if (typeof Mobile !== 'string') throw invalidPayload(`${label} request without Mobile`);
  if (typeof message !== 'string') throw invalidPayload(`${label} Message must be a string`);
  const sequence = sequenceOf(raw.Sequence);
  // Hubtel's documentation does not say Release and Timeout carry a Sequence; the hops that run the flow must.
  if (sequenced && sequence === null && (kind === 'initial' || kind === 'continue')) throw invalidPayload(`${label} Sequence must be a positive integer`);
  const msisdn = msisdnToE164(Mobile, region);
  if (!msisdn) throw invalidPayload(`${label} Mobile is not a phone number (region ${region})`);
  // On initiation Message is the dialled string; Release and Timeout carry no answer.
  const input = kind === 'continue' ? message : '';
  const unsequenced = sequence === null ? `${kind}:${message}` : `${kind}:${sequence}:${message}`;
  return {
    gateway,
    sessionId: SessionId,
    msisdn,
    network: optionalText(raw.Operator),
    serviceCode: optionalText(raw.ServiceCode),
    kind,
    input,
    dedupe: sequenced ? (sequence === null ? kind : String(sequence)) : unsequenced,
    raw,
  };
}

export const hubtelAdapter: GatewayAdapter = {
  name: 'hubtel',
  pageBudget: 160,
  sequenced: true,

  parse(request, region): UssdTurn {
    return hubtelStyleTurn(jsonObject(request, 'Hubtel'), region, 'hubtel', 'Hubtel', true);
  },

  render(screen, turn) {
    const end = screen.end;
    const body = {
      SessionId: turn.sessionId,
      Type: end ? 'Release' : 'Response',
      Message: screen.text,
      // Label titles the screen on Hubtel's app channels; USSD shows only Message. Its first line will do.
      Label: screen.text.split('\n', 1)[0] ?? '',
      // Hubtel echoes ClientState once, then drops it: our state is server-side, so pass on what came.
      ClientState: optionalText(turn.raw.ClientState) ?? '',
      // Whether a continue screen is a menu or a prompt is not known here; USSD renders both the same.
      DataType: end ? 'display' : 'input',
      FieldType: 'text',
    };
    return { status: 200, contentType: 'application/json', body: JSON.stringify(body) };
  },
};
