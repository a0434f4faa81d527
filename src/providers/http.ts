/**
 * Outbound HTTP for provider clients (undici): timeouts on every call, and one error
 * type that says whether retrying can help and when (Retry-After), so callers decide
 * between "retry later" and "give up and show it" without parsing messages.
 */
import { request, type Dispatcher } from 'undici';
import { SwitchboardError } from '../engine/errors.ts';

export const PROVIDER_TIMEOUT_MS = 15_000;

/** Errors that mean "no such host": retrying will not help until someone fixes the URL (EAI_AGAIN, a DNS hiccup, will). */
const HOST_ERRORS = new Set(['ENOTFOUND', 'ERR_INVALID_URL']);

export class ProviderHttpError extends SwitchboardError {
  readonly provider: string;
  /** HTTP status, or null when no response came (timeout, reset, refused). */
  readonly httpStatus: number | null;
  readonly responseBody: string;
  /** The provider's own error code (e.g. SignalWire 21717), when the body carries one. */
  readonly providerCode: string | null;
  readonly retryAfterMs: number | null;

  constructor(options: {
    provider: string;
    message: string;
    httpStatus: number | null;
    responseBody?: string;
    providerCode?: string | null;
    retryAfterMs?: number | null;
    retryable: boolean;
    /** The message without the provider's own words, for logs. */
    logMessage?: string;
    cause?: unknown;
  }) {
    const auth = options.httpStatus === 401 || options.httpStatus === 403;
    super(auth ? 'SB_ERR_PROVIDER_AUTH' : 'SB_ERR_PROVIDER_UNREACHABLE', options.message, {
      cause: options.cause,
      retryable: !auth && options.retryable,
      logMessage: options.logMessage,
    });
    this.provider = options.provider;
    this.httpStatus = options.httpStatus;
    this.responseBody = options.responseBody ?? '';
    this.providerCode = options.providerCode ?? null;
    this.retryAfterMs = options.retryAfterMs ?? null;
  }
}

/** Retry-After in seconds or as an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return null;
  const seconds = Number(text);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

export interface ProviderResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text(): string;
  json<T>(): T;
}

export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & { method?: Dispatcher.HttpMethod };

/**
 * One request; answers any status (the caller judges 4xx bodies) but turns network
 * failures into a ProviderHttpError. Times out after PROVIDER_TIMEOUT_MS.
 */
export async function providerRequest(provider: string, url: string, options: RequestOptions = {}): Promise<ProviderResponse> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, { headersTimeout: PROVIDER_TIMEOUT_MS, bodyTimeout: PROVIDER_TIMEOUT_MS, ...options });
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    const host = HOST_ERRORS.has(code) || error instanceof TypeError;
    throw new ProviderHttpError({
      provider,
      message: `${provider} ${host ? 'host cannot be resolved' : 'unreachable'} (${code || (error as Error).message})`,
      httpStatus: null,
      retryable: !host,
      cause: error,
    });
  }
  const body = Buffer.from(await response.body.arrayBuffer());
  return {
    status: response.statusCode,
    headers: response.headers,
    body,
    text: () => body.toString('utf8'),
    json: <T>() => JSON.parse(body.toString('utf8')) as T,
  };
}
