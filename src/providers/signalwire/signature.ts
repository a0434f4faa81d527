/**
 * Verifies SignalWire's webhook signatures (the Twilio-compatible cXML scheme):
 * base64(HMAC-SHA1(signing key, url + every form param as name+value, sorted by name)).
 * Sent as X-SignalWire-Signature or X-Twilio-Signature. As SignalWire's own validators do,
 * the URL is tried with and without its default port, since either may have been signed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export function signatureFor(signingKey: string, url: string, params: readonly (readonly [string, string])[]): string {
  const sorted = [...params].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const payload = url + sorted.map(([name, value]) => name + value).join('');
  return createHmac('sha1', signingKey).update(payload, 'utf8').digest('base64');
}

/** The URL as given, plus the same URL with its default port added or removed. */
function urlVariants(url: string): string[] {
  const parsed = new URL(url);
  const defaultPort = parsed.protocol === 'https:' ? '443' : '80';
  const withPort = new URL(url);
  if (!parsed.port) {
    // URL drops a default port when set; rebuild the string by hand.
    return [url, url.replace(`${parsed.protocol}//${parsed.host}`, `${parsed.protocol}//${parsed.hostname}:${defaultPort}`)];
  }
  if (parsed.port === defaultPort) {
    withPort.port = '';
    return [url, withPort.toString()];
  }
  return [url];
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function verifySignalWireSignature(
  signingKey: string,
  url: string,
  params: readonly (readonly [string, string])[],
  headers: Record<string, string | undefined>,
): { ok: true } | { ok: false; reason: string } {
  const given = headers['x-signalwire-signature'] ?? headers['x-twilio-signature'];
  if (!given) return { ok: false, reason: 'missing signature' };
  const matches = urlVariants(url).some((candidate) => equal(signatureFor(signingKey, candidate, params), given));
  return matches ? { ok: true } : { ok: false, reason: 'invalid signature' };
}
