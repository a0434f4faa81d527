/**
 * Wire-level helpers for the SignalWire simulator: LaML paths, RFC 2822 dates, segment
 * counting, the Compatibility API error body, webhook signing ("scheme B") and the signed
 * form POSTs the simulator sends to webhooks and status callbacks.
 */
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { request, type Dispatcher } from 'undici';

export const API_VERSION = '2010-04-01';
export const LAML_PREFIX = `/api/laml/${API_VERSION}/Accounts/`;
const MORE_INFO = 'https://developer.signalwire.com/compatibility-api/reference/error-codes';
/** SignalWire's documented webhook read timeout (the connect timeout is set on the dispatcher). */
const WEBHOOK_READ_TIMEOUT_MS = 5_000;
export const WEBHOOK_CONNECT_TIMEOUT_MS = 2_000;

export const messagesPath = (projectId: string): string => `${LAML_PREFIX}${projectId}/Messages`;

/** `Mon, 13 Aug 2018 21:38:46 +0000`: the format of every date in the Compatibility API. */
export function rfc2822(date: Date): string {
  return date.toUTCString().replace('GMT', '+0000');
}

/** Days of dates seen (dates have second precision, so few distinct ones): listing a large store filters each message per page. */
const days = new Map<string, string>();

/** The UTC day (YYYY-MM-DD) of an RFC 2822 date: what the DateSent filters compare. */
export function utcDay(rfc: string): string {
  let day = days.get(rfc);
  if (day === undefined) {
    if (days.size >= 10_000) days.clear();
    day = new Date(rfc).toISOString().slice(0, 10);
    days.set(rfc, day);
  }
  return day;
}

export function isE164(number: string | undefined): number is string {
  return number !== undefined && /^\+[1-9]\d{1,14}$/.test(number);
}

/** SMS segments; an approximation that treats printable ASCII as GSM-7 and anything else as UCS-2. */
export function countSegments(body: string | null): number {
  if (!body) return 1;
  const gsm = /^[\n\r\x20-\x7e]*$/.test(body);
  const single = gsm ? 160 : 70;
  return body.length <= single ? 1 : Math.ceil(body.length / (gsm ? 153 : 67));
}

const CONTENT_TYPES: Record<string, string> = {
  gif: 'image/gif',
  jpeg: 'image/jpeg',
  jpg: 'image/jpeg',
  mp4: 'video/mp4',
  pdf: 'application/pdf',
  png: 'image/png',
  txt: 'text/plain',
};

/** The simulator does not fetch outbound MediaUrls; it guesses their type from the extension. */
export function contentTypeOf(url: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(new URL(url).pathname)?.[1]?.toLowerCase();
  return (ext && CONTENT_TYPES[ext]) || 'application/octet-stream';
}

export interface ErrorBody {
  code: number | string;
  message: string;
  more_info: string;
  status: number;
}

export function errorBody(code: number, message: string, status: number, codesAsStrings: boolean): ErrorBody {
  return { code: codesAsStrings ? String(code) : code, message, more_info: MORE_INFO, status };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

/**
 * base64(HMAC-SHA1(key, url + name1 + value1 + ...)) with params sorted by name in byte order;
 * the sort is stable, so repeated names keep their values' original order.
 */
export function signSignalWireRequest(signingKey: string, url: string, params: [string, string][]): string {
  const sorted = [...params].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const data = url + sorted.map(([name, value]) => name + value).join('');
  return createHmac('sha1', signingKey).update(data, 'utf8').digest('base64');
}

export interface WebhookResult {
  status: number;
  body: string;
}

/** POST a form signed the way SignalWire signs cXML webhooks, under both header names it may use. */
export async function postSignedForm(
  dispatcher: Dispatcher,
  url: string,
  params: [string, string][],
  signingKey: string,
): Promise<WebhookResult> {
  const signature = signSignalWireRequest(signingKey, url, params);
  const response = await request(url, {
    method: 'POST',
    dispatcher,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-signalwire-signature': signature,
      'x-twilio-signature': signature,
    },
    body: new URLSearchParams(params).toString(),
    headersTimeout: WEBHOOK_READ_TIMEOUT_MS,
    bodyTimeout: WEBHOOK_READ_TIMEOUT_MS,
  });
  return { status: response.statusCode, body: await response.body.text() };
}
