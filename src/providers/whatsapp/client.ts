/**
 * WhatsApp Cloud API (Meta Graph API) client: bearer-token calls under
 * `<api url>/<version>/`. Only what is used so far: the phone-number lookup `doctor` makes
 * to prove the token. Errors are ProviderHttpErrors carrying Meta's error code (190 = the
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

  async #call(path: string): Promise<ProviderResponse> {
    const { baseUrl, version, accessToken } = this.#credentials;
    const response = await providerRequest(PROVIDER, `${baseUrl}/${version}${path}`, {
      method: 'GET',
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
    });
    if (response.status >= 200 && response.status < 300) return response;
    throw errorFrom(response, `GET ${path.split('?')[0]}`);
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
