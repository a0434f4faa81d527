/**
 * WhatsApp Cloud API (Meta Graph API) client: bearer-token calls under
 * `<api url>/<version>/`. Only what is used so far: the phone-number lookup `doctor` makes
 * to prove the token, and sending a message (flows over WhatsApp). Errors are ProviderHttpErrors carrying Meta's error code (190 = the
 * token is invalid or expired).
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

  async #call(path: string, body?: unknown): Promise<ProviderResponse> {
    const { baseUrl, version, accessToken } = this.#credentials;
    const method = body === undefined ? 'GET' : 'POST';
    const headers: Record<string, string> = { authorization: `Bearer ${accessToken}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await providerRequest(PROVIDER, `${baseUrl}/${version}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.status >= 200 && response.status < 300) return response;
    throw errorFrom(response, `${method} ${path.split('?')[0]}`);
  }

  /**
   * Sends one message (`message`: the body without `to` and `messaging_product`) and returns
   * its wamid. `opaque` comes back in the message's status receipts (biz_opaque_callback_data),
   * the only way to recognise a send whose answer was lost.
   */
  async sendMessage(to: string, message: Record<string, unknown>, opaque?: string): Promise<string> {
    const id = encodeURIComponent(this.#credentials.phoneNumberId);
    const body = { messaging_product: 'whatsapp', recipient_type: 'individual', to, ...message, ...(opaque ? { biz_opaque_callback_data: opaque } : {}) };
    const answer = (await this.#call(`/${id}/messages`, body)).json<{ messages?: { id?: unknown }[] }>();
    const wamid = answer.messages?.[0]?.id;
    if (typeof wamid !== 'string') throw new Error('WhatsApp POST /messages answered without a message id');
    return wamid;
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
