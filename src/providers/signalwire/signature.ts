/**
 * Verifies SignalWire's webhook signatures (the Twilio-compatible cXML scheme):
 * base64(HMAC-SHA1(signing key, url + every form param as name+value, sorted by name)).
 * Sent as X-SignalWire-Signature or X-Twilio-Signature. As SignalWire's own validators do,
 * the URL is tried with and without its default port, since either may have been signed.
 */
import { createHmac } from 'node:crypto';
import { safeEqual } from '../safe-equal.ts';

export function signatureFor(signingKey: string, url: string, params: readonly (readonly [string, string])[]): string {
  const sorted = [...params].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const payload = url + sorted.map(([name, value]) => name + value).join('');
  return createHmac('sha1', signingKey).update(payload, 'utf8').digest('base64');
}

/** The URL as given, plus the same URL with its default port added or removed. */
function urlVariants(url: string): string[] {
  const { protocol, hostname, port } = new URL(url);
  const defaultPort = protocol === 'https:' ? '443' : '80';
  // URL() hides a default port, so the string is edited, not re-serialised.
  const withDefault = new RegExp(`^(${protocol}//[^/?#]*?${hostname.replace(/[.[\]]/g, '\\$&')}):${defaultPort}(?=[/?#]|$)`);
  if (withDefault.test(url)) return [url, url.replace(withDefault, '$1')];
  if (port) return [url];
  const bare = new RegExp(`^(${protocol}//[^/?#]*?${hostname.replace(/[.[\]]/g, '\\$&')})(?=[/?#]|$)`);
  return [url, url.replace(bare, `$1:${defaultPort}`)];
}

export function verifySignalWireSignature(
  signingKey: string,
  url: string,
  params: readonly (readonly [string, string])[],
  headers: Record<string, string | undefined>,
): { ok: true } | { ok: false; reason: string } {
  const given = headers['x-signalwire-signature'] ?? headers['x-twilio-signature'];
  if (!given) return { ok: false, reason: 'missing signature' };
  const matches = urlVariants(url).some((candidate) => safeEqual(signatureFor(signingKey, candidate, params), given));
  return matches ? { ok: true } : { ok: false, reason: 'invalid signature' };
}
