/**
 * SignalWire Compatibility (LaML) REST client for messaging: list and fetch messages,
 * send one, list and download media. Basic auth with project id and API token; every
 * call under /api/laml/2010-04-01/Accounts/<project>/ (SignalWire turned off the root
 * path in June 2025). Errors are ProviderHttpErrors carrying SignalWire's error code.
 */
import type { ServiceIntegration } from '../../db/schema.ts';
import { ProviderHttpError, parseRetryAfter, providerRequest, type ProviderResponse } from '../http.ts';

export interface SignalWireCredentials {
  /** `https://<space>.signalwire.com`, or any base URL (simulators). */
  baseUrl: string;
  projectId: string;
  apiToken: string;
}

export interface SignalWireMessage {
  sid: string;
  account_sid?: string;
  body: string | null;
  num_media?: string | number;
  num_segments?: string | number;
  date_created: string | null;
  date_sent: string | null;
  date_updated: string | null;
  direction: string;
  error_code: string | number | null;
  error_message: string | null;
  from: string;
  to: string;
  status: string;
  subresource_uris?: { media?: string };
  [key: string]: unknown;
}

export interface MessagePage {
  messages: SignalWireMessage[];
  next_page_uri: string | null;
}

export interface MediaItem {
  sid: string;
  content_type: string;
  uri: string;
}

/** A space name (`acme`) means https://acme.signalwire.com; a full URL is used as given. */
export function spaceBaseUrl(space: string): string {
  const trimmed = space.trim().replace(/\/+$/, '');
  if (/^https?:\/\//i.test(trimmed)) return trimmed;
  const name = trimmed.replace(/\.signalwire\.com.*$/i, '');
  return `https://${name}.signalwire.com`;
}

const PROVIDER = 'signalwire';

/**
 * Sends per second from one number when the integration sets no `send_rate`: SignalWire's
 * API limit on POSTs (13,800 per 10 s per space), the rate beyond which it refuses (429).
 * A number's own rate (10DLC 4/s, toll-free 3/s, short code 10/s, Canadian long code 1/s)
 * only queues what is sent beyond it, up to 10,000 messages; set `--send-rate` to it to
 * keep that queue empty.
 */
export const SIGNALWIRE_DEFAULT_SEND_RATE = 1380;

/** Sends per second from one number for this integration: its `send_rate` setting, else the default. */
export function signalWireSendRate(integration: Pick<ServiceIntegration, 'settings'>): number {
  const rate = Number((integration.settings as Record<string, unknown>).send_rate);
  return Number.isFinite(rate) && rate > 0 ? rate : SIGNALWIRE_DEFAULT_SEND_RATE;
}

export class SignalWireClient {
  readonly #credentials: SignalWireCredentials;

  constructor(credentials: SignalWireCredentials) {
    this.#credentials = credentials;
  }

  get accountPath(): string {
    return `/api/laml/2010-04-01/Accounts/${encodeURIComponent(this.#credentials.projectId)}`;
  }

  #authorization(): string {
    const { projectId, apiToken } = this.#credentials;
    return `Basic ${Buffer.from(`${projectId}:${apiToken}`).toString('base64')}`;
  }

  async #call(path: string, options: { method?: 'GET' | 'POST'; form?: [string, string][]; accept?: string } = {}): Promise<ProviderResponse> {
    const headers: Record<string, string> = { authorization: this.#authorization(), accept: options.accept ?? 'application/json' };
    let body: string | undefined;
    if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    }
    const response = await providerRequest(PROVIDER, `${this.#credentials.baseUrl}${path}`, { method: options.method ?? 'GET', headers, body });
    if (response.status >= 200 && response.status < 300) return response;
    throw errorFrom(response, `${options.method ?? 'GET'} ${path.split('?')[0]}`);
  }

  /** First page (path built here) or a `next_page_uri` from the previous page. */
  async listMessages(pageUri: string | null, query: Record<string, string> = {}): Promise<MessagePage> {
    const path = pageUri ?? `${this.accountPath}/Messages.json?${new URLSearchParams(query).toString()}`;
    return (await this.#call(path)).json<MessagePage>();
  }

  async getMessage(sid: string): Promise<SignalWireMessage> {
    return (await this.#call(`${this.accountPath}/Messages/${encodeURIComponent(sid)}.json`)).json<SignalWireMessage>();
  }

  async sendMessage(input: { from: string; to: string; body: string | null; mediaUrls?: string[]; statusCallback?: string | null }): Promise<SignalWireMessage> {
    const form: [string, string][] = [
      ['From', input.from],
      ['To', input.to],
    ];
    if (input.body !== null) form.push(['Body', input.body]);
    for (const url of input.mediaUrls ?? []) form.push(['MediaUrl', url]);
    if (input.statusCallback) form.push(['StatusCallback', input.statusCallback]);
    return (await this.#call(`${this.accountPath}/Messages.json`, { method: 'POST', form })).json<SignalWireMessage>();
  }

  /** `mediaListUri` is the message's `subresource_uris.media`. */
  async listMedia(mediaListUri: string): Promise<MediaItem[]> {
    return (await this.#call(mediaListUri)).json<{ media_list?: MediaItem[] }>().media_list ?? [];
  }

  /** The bytes of one media item: its `uri` without the `.json` suffix. */
  async downloadMedia(item: MediaItem): Promise<Buffer> {
    return (await this.#call(item.uri.replace(/\.json$/, ''), { accept: '*/*' })).body;
  }
}

/** Turn a non-2xx answer into an error; a SignalWire error code means "do not retry". */
function errorFrom(response: ProviderResponse, what: string): ProviderHttpError {
  let code: string | null = null;
  let message = '';
  try {
    const parsed = response.json<{ code?: unknown; message?: unknown; errors?: { code?: unknown; message?: unknown }[] }>();
    const first = parsed.errors?.[0] ?? parsed;
    if (first.code !== undefined && first.code !== null) code = String(first.code);
    if (typeof first.message === 'string') message = first.message;
  } catch {
    // Not JSON: no code, treat by status.
  }
  const status = response.status;
  const retryable = status === 429 || status >= 500 || (code === null && status !== 401 && status !== 403 && status !== 404);
  return new ProviderHttpError({
    provider: PROVIDER,
    message: `SignalWire ${what} answered ${status}${code ? ` (error ${code}: ${message})` : ''}`,
    // SignalWire's messages quote numbers ("The 'To' number +1... is not valid").
    logMessage: `SignalWire ${what} answered ${status}${code ? ` (error ${code})` : ''}`,
    httpStatus: status,
    responseBody: response.text().slice(0, 2000),
    providerCode: status === 429 ? null : code,
    retryAfterMs: parseRetryAfter(response.headers['retry-after']),
    retryable,
  });
}

/** SignalWire dates are RFC 2822 (`Mon, 13 Aug 2018 21:38:46 +0000`); null when absent or unparseable. */
export function parseSignalWireDate(value: unknown): Date | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : new Date(time);
}

export function formatSignalWireDate(date: Date): string {
  return date.toUTCString().replace('GMT', '+0000');
}

/** The client of a `signalwire_message_v1` integration: api_url = space URL, backfill_key = project id, backfill_secret = API token. */
export function signalWireClient(integration: Pick<ServiceIntegration, 'api_url' | 'backfill_key' | 'backfill_secret'>): SignalWireClient {
  return new SignalWireClient({
    baseUrl: integration.api_url ?? '',
    projectId: integration.backfill_key ?? '',
    apiToken: integration.backfill_secret ?? '',
  });
}
