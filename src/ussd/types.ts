/**
 * The USSD vocabulary every part shares: a gateway request becomes one normalised turn;
 * a flow answers with a screen spec; pagination renders a spec into the page the
 * gateway sends back. Gateways: ussd/gateways/; pages: ussd/paginate.ts; flows: ussd/flow/.
 */

export const GATEWAYS = ['africastalking', 'nalo', 'nsano', 'hubtel', 'arkesel', 'emergent', 'beem', 'southpawsl', 'crossswitch'] as const;
export type GatewayName = (typeof GATEWAYS)[number];

/**
 * initial: the dial (a new session); continue: an answer; release: the user or network
 * ended the session; timeout: the gateway gave up waiting for us. Release and timeout
 * run no flow: they only close the session.
 */
export type TurnKind = 'initial' | 'continue' | 'release' | 'timeout';

export interface UssdTurn {
  gateway: GatewayName;
  /** The gateway's session id (Nalo: the MSISDN, plus SESSIONID when present; never USERID). */
  sessionId: string;
  /** E.164. */
  msisdn: string;
  network: string | null;
  serviceCode: string | null;
  /** What the user typed on this hop; '' on an initial turn (dial string or extension stripped). */
  input: string;
  kind: TurnKind;
  /** A per-hop value that, with sessionId, identifies a repeated hop (Hubtel Sequence, AT's cumulative text, ...). */
  dedupe: string;
  /** The parsed request as the gateway sent it. */
  raw: Record<string, unknown>;
}

/** What goes back to the handset: the page text, and whether the session ends. */
export interface Screen {
  text: string;
  end: boolean;
}

export interface GatewayHttpRequest {
  /** JSON value, or a string record for form and query parameters. */
  body: unknown;
  /** Media type without parameters, lower-case. */
  contentType: string;
  query: Record<string, string>;
  method: string;
}

export interface GatewayHttpResponse {
  status: number;
  contentType: string;
  body: string;
}

export interface GatewayAdapter {
  name: GatewayName;
  /** Default page budget in GSM-7 septets (configurable per integration). */
  pageBudget: number;
  /**
   * True when `dedupe` alone identifies a hop within a session (Hubtel's Sequence, Africa's
   * Talking's cumulative text). Otherwise only the same input right after the last hop is
   * taken for a replay.
   */
  sequenced: boolean;
  /** Throws InvalidPayloadError (engine/errors.ts `invalidPayload`) for a request that is not this gateway's. */
  parse(request: GatewayHttpRequest, region: string): UssdTurn;
  /** The input of a continue turn, knowing the previous hop's `dedupe` (AT: text typed after the last `*`-joined answer may contain `*`). */
  inputAfter?(turn: UssdTurn, previousDedupe: string | null): string;
  render(screen: Screen, turn: UssdTurn): GatewayHttpResponse;
}

/**
 * A screen as a flow describes it, before pagination.
 * - menu: choices numbered 1..n by position (a choice may pin its own number, e.g. "0" Exit);
 * - prompt: free text expected;
 * - end: a last message; the session ends after its last page.
 */
export type ScreenSpec =
  | { kind: 'menu'; title: string; choices: { key: string; label: string; number?: string }[] }
  | { kind: 'prompt'; text: string }
  | { kind: 'end'; text: string };
