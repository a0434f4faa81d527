import { describe, expect, it } from 'vitest';
import { frontSignature, verifyFrontSignature } from '../../src/providers/front/signature.ts';
import { signatureFor, verifySignalWireSignature } from '../../src/providers/signalwire/signature.ts';

describe('SignalWire signatures', () => {
  const params: [string, string][] = [
    ['CallSid', 'CA1234567890ABCDE'],
    ['Caller', '+12349013030'],
    ['Digits', '1234'],
    ['From', '+12349013030'],
    ['To', '+18005551212'],
  ];

  it('match the documented vector', () => {
    expect(signatureFor('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', params)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
  });

  it('verify whether or not the signer included the default port', () => {
    const withPort = signatureFor('key', 'https://example.org:443/hook?x=1', params);
    const without = signatureFor('key', 'https://example.org/hook?x=1', params);
    expect(verifySignalWireSignature('key', 'https://example.org/hook?x=1', params, { 'x-signalwire-signature': withPort })).toEqual({ ok: true });
    expect(verifySignalWireSignature('key', 'https://example.org:443/hook?x=1', params, { 'x-twilio-signature': without })).toEqual({ ok: true });
    expect(verifySignalWireSignature('key', 'http://127.0.0.1:8080/hook', params, { 'x-signalwire-signature': signatureFor('key', 'http://127.0.0.1/hook', params) })).toEqual({
      ok: false,
      reason: 'invalid signature',
    });
  });

  it('refuse a changed parameter or a missing header', () => {
    const signature = signatureFor('key', 'https://example.org/hook', params);
    const changed = params.map(([k, v]) => [k, k === 'Digits' ? '9999' : v] as [string, string]);
    expect(verifySignalWireSignature('key', 'https://example.org/hook', changed, { 'x-signalwire-signature': signature })).toEqual({ ok: false, reason: 'invalid signature' });
    expect(verifySignalWireSignature('key', 'https://example.org/hook', params, {})).toEqual({ ok: false, reason: 'missing signature' });
  });
});

describe('Front signatures', () => {
  const body = '{"type":"authorization","payload":{"channel_id":"cha_123"}}';

  it('match the documented vector', () => {
    expect(frontSignature('app_secret', '1700000000000', body)).toBe('HuKMoKjEycz3TJEsSG6ssFN3Vo4UWwg5n6ov3npb1e8=');
  });

  it('accept timestamps in milliseconds or seconds within five minutes, and refuse stale ones', () => {
    const now = 1_700_000_000_000;
    const check = (ts: string, at = now) =>
      verifyFrontSignature('app_secret', { 'x-front-signature': frontSignature('app_secret', ts, body), 'x-front-request-timestamp': ts }, body, false, at);
    expect(check('1700000000000')).toEqual({ ok: true });
    expect(check('1700000000')).toEqual({ ok: true });
    expect(check('1700000000000', now + 299_000)).toEqual({ ok: true });
    expect(check('1700000000000', now + 301_000)).toEqual({ ok: false, reason: 'stale timestamp' });
    expect(check('1700000000000', now - 301_000)).toEqual({ ok: false, reason: 'stale timestamp' });
  });

  it('accept a signature over the literal "undefined" only where the caller allows it (deletes)', () => {
    const ts = String(Date.now());
    const headers = { 'x-front-signature': frontSignature('s', ts, 'undefined'), 'x-front-request-timestamp': ts };
    expect(verifyFrontSignature('s', headers, '{"type":"delete"}', true)).toEqual({ ok: true });
    expect(verifyFrontSignature('s', headers, '{"type":"message"}', false)).toEqual({ ok: false, reason: 'invalid signature' });
  });
});
