/**
 * Verifies requests Front sends to an application channel: X-Front-Signature is
 * base64(HMAC-SHA256(app secret, "<X-Front-Request-Timestamp>:<raw body>")). Unlike
 * WebhookDB we compare in constant time and refuse timestamps more than five minutes
 * off (replays); Front documents milliseconds but has sent seconds, so both are read.
 */
import { createHmac } from 'node:crypto';
import { safeEqual } from '../safe-equal.ts';

export const FRONT_TIMESTAMP_WINDOW_MS = 5 * 60_000;

export function frontSignature(secret: string, timestamp: string, rawBody: string): string {
  return createHmac('sha256', secret).update(`${timestamp}:${rawBody}`, 'utf8').digest('base64');
}

/** Milliseconds since the epoch, from a timestamp in seconds or milliseconds. */
function timestampMs(value: string): number | null {
  if (!/^\d+(\.\d+)?$/.test(value)) return null;
  const n = Number(value);
  return n > 1e12 ? n : n * 1000;
}

/**
 * `allowUndefinedBody`: Front's docs say DELETE requests are signed over the literal
 * "undefined". Such a signature covers nothing of the body, so the caller may only allow
 * it for a request whose body it then ignores (a `delete`).
 */
export function verifyFrontSignature(
  secret: string,
  headers: Record<string, string | undefined>,
  rawBody: string,
  allowUndefinedBody: boolean,
  now = Date.now(),
): { ok: true } | { ok: false; reason: string } {
  const signature = headers['x-front-signature'];
  if (!signature) return { ok: false, reason: 'missing signature' };
  const timestamp = headers['x-front-request-timestamp'] ?? '';
  const ms = timestampMs(timestamp);
  if (ms === null) return { ok: false, reason: 'missing or malformed X-Front-Request-Timestamp' };
  if (Math.abs(now - ms) > FRONT_TIMESTAMP_WINDOW_MS) return { ok: false, reason: 'stale timestamp' };
  const bodies = allowUndefinedBody ? [rawBody, 'undefined'] : [rawBody];
  const valid = bodies.some((body) => safeEqual(frontSignature(secret, timestamp, body), signature));
  return valid ? { ok: true } : { ok: false, reason: 'invalid signature' };
}
