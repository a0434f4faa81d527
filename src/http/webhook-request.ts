/**
 * Turns a Fastify request with a raw buffer body into the provider-neutral
 * WebhookRequest replicators see: lower-cased headers, the signed URL, and the body
 * parsed by content type (JSON or form). Malformed bodies are the sender's error (400).
 */
import type { FastifyRequest } from 'fastify';
import { SwitchboardError } from '../engine/errors.ts';
import type { WebhookRequest } from '../engine/replicator.ts';

function parseBody(raw: Buffer, contentType: string): unknown {
  if (raw.length === 0) return null;
  const text = raw.toString('utf8');
  if (contentType === 'application/json' || contentType.endsWith('+json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new SwitchboardError('SB_ERR_BAD_REQUEST', `malformed JSON body: ${(error as Error).message}`);
    }
  }
  if (contentType === 'application/x-www-form-urlencoded') {
    const form: Record<string, string> = {};
    // The first value of a repeated parameter wins, as in most form parsers.
    for (const [key, value] of new URLSearchParams(text)) if (!(key in form)) form[key] = value;
    return form;
  }
  throw new SwitchboardError('SB_ERR_UNSUPPORTED_MEDIA_TYPE', `unsupported content type "${contentType || '(none)'}"; send JSON or a form`);
}

/** A request's raw body, its media type (lower case, no parameters) and the body parsed by it: JSON or a form; else 400/415. */
export function requestBody(request: FastifyRequest): { raw: Buffer; contentType: string; body: unknown } {
  const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const contentType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  return { raw, contentType, body: parseBody(raw, contentType) };
}

export function toWebhookRequest(request: FastifyRequest, publicUrl: string): WebhookRequest {
  const { raw, contentType, body } = requestBody(request);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return { method: request.method, url: `${publicUrl}${request.url}`, headers, rawBody: raw, contentType, body };
}

/** A body this size or above is worth refusing on its headers before it is read. */
export const LARGE_BODY_BYTES = 64 * 1024;

/** Whether the body may be large: declared so, or of undeclared length (chunked). */
export function mayBeLargeBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  if (length === undefined) return request.headers['transfer-encoding'] !== undefined;
  return !(Number(length) < LARGE_BODY_BYTES);
}
