/** Reading the loosely typed fields gateways send: JSON bodies, ids, and boolean-ish flags. */
import { invalidPayload } from '../../engine/errors.ts';
import type { GatewayHttpRequest, GatewayName, UssdTurn } from '../types.ts';

export const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The request's JSON object; anything else is not this gateway's request. */
export function jsonObject(request: GatewayHttpRequest, gateway: string): Record<string, unknown> {
  if (request.contentType !== 'application/json' || !isObject(request.body)) throw invalidPayload(`a ${gateway} request is a JSON object (application/json)`);
  return request.body;
}

/** A present, non-empty id or label; numbers (ids sent unquoted) as their decimal text. */
export function optionalText(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' && value !== '' ? value : null;
}

/** Documented booleans that integrators also see as 1/0 or "true"/"false" strings. */
export function flagOf(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === 'string' && /^(true|false|1|0)$/i.test(value.trim())) return /^(true|1)$/i.test(value.trim());
  return null;
}

/**
 * The turn of a gateway that sends only the latest input and numbers no hops (Nalo, Nsano,
 * Arkesel): on the dial the input is the dial string or an extension, not an answer; the
 * same answer twice gives the same `dedupe`, and whether that is a replay is for the hop
 * handler's window to decide.
 */
export function latestInputTurn(turn: {
  gateway: GatewayName;
  sessionId: string;
  msisdn: string;
  network: string | null;
  initial: boolean;
  input: string;
  raw: Record<string, unknown>;
}): UssdTurn {
  const kind = turn.initial ? 'initial' : 'continue';
  return {
    gateway: turn.gateway,
    sessionId: turn.sessionId,
    msisdn: turn.msisdn,
    network: turn.network,
    // None of these gateways sends a service code.
    serviceCode: null,
    kind,
    input: turn.initial ? '' : turn.input,
    dedupe: `${kind}:${turn.input}`,
    raw: turn.raw,
  };
}
