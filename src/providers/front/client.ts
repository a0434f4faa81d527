/**
 * Front Channel API client for an application channel: imports messages the channel
 * received or sent (`/channels/<id>/inbound_messages|outbound_messages`), downloads
 * attachments of messages Front asks us to deliver, and reads the channel's own messages
 * and conversations (a conversation's status). Every call carries a fresh HS256 JWT
 * (iss = app UID, random jti, sub = channel id, exp within 30 s, as Front requires).
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { ProviderHttpError, parseRetryAfter, providerRequest, type ProviderResponse } from '../http.ts';

export interface FrontChannelSettings {
  apiUrl: string;
  appUid: string;
  appSecret: string;
}

/** Front wants `exp` within 30 s; a margin keeps clock skew from pushing us past it. */
const JWT_LIFETIME_SECONDS = 25;
const PROVIDER = 'front';

export interface FrontImport {
  body: string;
  /** Epoch seconds. */
  delivered_at: number;
  metadata: { external_id: string; external_conversation_id: string };
  sender?: { handle: string; name?: string };
  to?: { handle: string }[];
}

export interface FrontFile {
  filename: string;
  contentType: string;
  bytes: Buffer;
}

export class FrontChannelClient {
  readonly #settings: FrontChannelSettings;

  constructor(settings: FrontChannelSettings) {
    this.#settings = settings;
  }

  channelJwt(channelId: string, now = Date.now()): Promise<string> {
    return new SignJWT({ iss: this.#settings.appUid, jti: randomBytes(4).toString('hex'), sub: channelId })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(now / 1000) + JWT_LIFETIME_SECONDS)
      .sign(new TextEncoder().encode(this.#settings.appSecret));
  }

  /** POST an import; JSON, or multipart with bracketed field names when there are files. */
  async importMessage(channelId: string, kind: 'inbound' | 'outbound', message: FrontImport, files: FrontFile[] = []): Promise<{ message_uid: string }> {
    const url = `${this.#settings.apiUrl}/channels/${encodeURIComponent(channelId)}/${kind}_messages`;
    const headers: Record<string, string> = { authorization: `Bearer ${await this.channelJwt(channelId)}`, accept: 'application/json' };
    let body: string | Buffer;
    if (files.length === 0) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(message);
    } else {
      const form = multipart(message, files);
      headers['content-type'] = form.contentType;
      body = form.body;
    }
    const response = await providerRequest(PROVIDER, url, { method: 'POST', headers, body });
    if (response.status >= 200 && response.status < 300) return response.json<{ message_uid: string }>();
    throw frontError(response, `import into channel`);
  }

  /**
   * The Front conversation a message is in (`msg_…`, or the `uid_…` an import was answered with,
   * as `alt:uid:`); null when Front does not know the message (yet).
   */
  async conversationOfMessage(channelId: string, message: string): Promise<string | null> {
    const ref = message.startsWith('uid_') ? `alt:uid:${encodeURIComponent(message)}` : encodeURIComponent(message);
    const found = await this.#get<{ _links?: { related?: { conversation?: unknown } } }>(channelId, `/messages/${ref}`, 'message lookup');
    const link = found?._links?.related?.conversation;
    return typeof link === 'string' ? (/\/conversations\/([^/?#]+)$/.exec(link)?.[1] ?? null) : null;
  }

  /** A conversation's `status` (archived, unassigned, assigned, deleted); null when Front does not know it. */
  async conversationStatus(channelId: string, conversationId: string): Promise<string | null> {
    const found = await this.#get<{ status?: unknown }>(channelId, `/conversations/${encodeURIComponent(conversationId)}`, 'conversation lookup');
    return typeof found?.status === 'string' ? found.status : null;
  }

  /** A GET the channel's JWT may make (its own messages and conversations); null on 404. */
  async #get<T>(channelId: string, path: string, what: string): Promise<T | null> {
    const response = await providerRequest(PROVIDER, `${this.#settings.apiUrl}${path}`, { headers: { authorization: `Bearer ${await this.channelJwt(channelId)}`, accept: 'application/json' } });
    if (response.status === 404) return null;
    if (response.status >= 200 && response.status < 300) return response.json<T>();
    throw frontError(response, what);
  }

  async download(url: string, channelId: string): Promise<Buffer> {
    const response = await providerRequest(PROVIDER, url, { headers: { authorization: `Bearer ${await this.channelJwt(channelId)}`, accept: '*/*' } });
    if (response.status >= 200 && response.status < 300) return response.body;
    throw frontError(response, 'attachment download');
  }
}

/**
 * multipart/form-data with bracketed field names. Built by hand: FormData rewrites "\n"
 * in field values to "\r\n" (the HTML form rule), which would change message bodies.
 */
function multipart(message: FrontImport, files: FrontFile[]): { body: Buffer; contentType: string } {
  const boundary = `----switchboard${randomBytes(12).toString('hex')}`;
  const fields: [string, string][] = [
    ['body', message.body],
    ['delivered_at', String(message.delivered_at)],
    ['metadata[external_id]', message.metadata.external_id],
    ['metadata[external_conversation_id]', message.metadata.external_conversation_id],
  ];
  if (message.sender) fields.push(['sender[handle]', message.sender.handle]);
  message.to?.forEach((to, i) => fields.push([`to[${i}][handle]`, to.handle]));
  const quote = (value: string) => value.replace(/["\r\n]/g, (c) => encodeURIComponent(c));
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${value}\r\n`));
  }
  files.forEach((file, i) => {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="attachments[${i}]"; filename="${quote(file.filename)}"\r\nContent-Type: ${file.contentType}\r\n\r\n`,
      ),
      file.bytes,
      Buffer.from('\r\n'),
    );
  });
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

function frontError(response: ProviderResponse, what: string): ProviderHttpError {
  const status = response.status;
  let message = '';
  try {
    message = response.json<{ _error?: { message?: string } }>()._error?.message ?? '';
  } catch {
    // Not JSON.
  }
  // Front may say "retry in N milliseconds" in the body instead of Retry-After.
  const bodyDelay = /retry in (\d+) milliseconds/i.exec(message)?.[1];
  return new ProviderHttpError({
    provider: PROVIDER,
    message: `Front ${what} answered ${status}${message ? `: ${message}` : ''}`,
    logMessage: `Front ${what} answered ${status}`,
    httpStatus: status,
    responseBody: response.text().slice(0, 2000),
    retryAfterMs: parseRetryAfter(response.headers['retry-after']) ?? (bodyDelay ? Number(bodyDelay) : null),
    retryable: status === 429 || status >= 500,
  });
}
