/**
 * WhatsApp Cloud API (Meta Graph API) client: bearer-token calls under
 * `<api url>/<version>/`: the phone-number lookup `doctor` makes to prove the token, sends,
 * mark-as-read, and inbound media (id → short-lived URL → bytes, both with the token).
 * Errors are ProviderHttpErrors carrying Meta's error code (190 = the token is invalid or
 * expired; 130429/131056 rate limits and 5xx are retryable, with Retry-After).
 */
import { ProviderHttpError, parseRetryAfter, providerRequest, type ProviderResponse } from '../http.ts';

export const DEFAULT_GRAPH_URL = 'https://graph.facebook.com';
/** Meta pins webhook payloads to the app's version and retires old ones; configurable per integration. */
export const DEFAULT_GRAPH_VERSION = 'v23.0';

export interface WhatsAppCredentials {
  baseUrl: string;
  version: string;
  phoneNumberId: string;
  accessToken: string;
}

export interface PhoneNumberInfo {
  id: string;
  display_phone_number?: string;
  verified_name?: string;
  quality_rating?: string;
}

const PROVIDER = 'whatsapp';

export class WhatsAppClient {
  readonly #credentials: WhatsAppCredentials;

  constructor(credentials: WhatsAppCredentials) {
    this.#credentials = credentials;
  }

  async #call(path: string, body?: Record<string, unknown>): Promise<ProviderResponse> {
    const { baseUrl, version } = this.#credentials;
    const method = body ? 'POST' : 'GET';
    return this.#fetch(`${baseUrl}/${version}${path}`, method, body && JSON.stringify(body), `${method} ${path.split('?')[0]}`);
  }

  async #fetch(url: string, method: 'GET' | 'POST', body: string | undefined, what: string): Promise<ProviderResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#credentials.accessToken}`, accept: body === undefined && method === 'GET' ? '*/*' : 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await providerRequest(PROVIDER, url, { method, headers, body });
    if (response.status >= 200 && response.status < 300) return response;
    throw errorFrom(response, what);
  }

  /** POST .../messages with `message` (type and content); the new message's wamid. */
  async sendMessage(message: Record<string, unknown>): Promise<string> {
    const id = encodeURIComponent(this.#credentials.phoneNumberId);
    const sent = (await this.#call(`/${id}/messages`, { messaging_product: 'whatsapp', recipient_type: 'individual', ...message })).json<{ messages?: { id?: unknown }[] }>();
    const wamid = sent.messages?.[0]?.id;
    if (typeof wamid !== 'string') throw new ProviderHttpError({ provider: PROVIDER, message: 'WhatsApp accepted a send without a message id', httpStatus: 200, retryable: false });
    return wamid;
  }

  /** Mark an inbound message (and, as WhatsApp shows it, the ones before it) read. */
  async markRead(wamid: string): Promise<void> {
    const id = encodeURIComponent(this.#credentials.phoneNumberId);
    await this.#call(`/${id}/messages`, { messaging_product: 'whatsapp', status: 'read', message_id: wamid });
  }

  /** An inbound media id's bytes: a fresh URL (it expires within minutes), fetched at once with the token. */
  async downloadMedia(mediaId: string): Promise<{ bytes: Buffer; mimeType: string }> {
    const info = (await this.#call(`/${encodeURIComponent(mediaId)}`)).json<{ url?: unknown; mime_type?: unknown }>();
    if (typeof info.url !== 'string' || !/^https?:\/\//.test(info.url)) {
      throw new ProviderHttpError({ provider: PROVIDER, message: 'WhatsApp media lookup gave no URL', httpStatus: 200, retryable: false });
    }
    const response = await this.#fetch(info.url, 'GET', undefined, 'GET media URL');
    const header = response.headers['content-type'];
    const mimeType = typeof info.mime_type === 'string' ? info.mime_type : typeof header === 'string' ? header : 'application/octet-stream';
    return { bytes: response.body, mimeType };
  }

  /** The business phone number the integration sends from; fails with 190 on a bad token. */
  async phoneNumber(): Promise<PhoneNumberInfo> {
    const id = encodeURIComponent(this.#credentials.phoneNumberId);
    return (await this.#call(`/${id}?fields=display_phone_number,verified_name,quality_rating`)).json<PhoneNumberInfo>();
  }
}

/** A non-2xx Graph answer as an error; Meta's `error.code` decides, the HTTP status only when there is none. */
function errorFrom(response: ProviderResponse, what: string): ProviderHttpError {
  let code: string | null = null;
  let title = '';
  try {
    const { error } = response.json<{ error?: { code?: unknown; message?: unknown } }>();
    if (typeof error?.code === 'number') code = String(error.code);
    if (typeof error?.message === 'string') title = error.message;
  } catch {
    // Not JSON: judged by status.
  }
  const status = response.status;
  return new ProviderHttpError({
    provider: PROVIDER,
    message: `WhatsApp ${what} answered ${status}${code ? ` (error ${code}: ${title})` : ''}`,
    // Meta's messages can quote the recipient's number.
    logMessage: `WhatsApp ${what} answered ${status}${code ? ` (error ${code})` : ''}`,
    httpStatus: status,
    responseBody: response.text().slice(0, 2000),
    providerCode: code,
    retryAfterMs: parseRetryAfter(response.headers['retry-after']),
    retryable: status === 429 || status >= 500 || code === '130429' || code === '131056',
  });
}
