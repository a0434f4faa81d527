/**
 * The error catalogue: every error a user can see is declared here once, with a stable
 * code, an HTTP status and whether retrying can help. HTTP answers render it as
 * `{error: {code, message}}`; the CLI prints the message and exits 2 for usage errors.
 * docs/errors.md documents each code (a test keeps the two in step).
 */

export const ERRORS = {
  SB_ERR_BAD_REQUEST: { status: 400, retryable: false, summary: 'The request is malformed (unparseable body, bad parameter).' },
  SB_ERR_UNAUTHORIZED: { status: 401, retryable: false, summary: 'Authentication or webhook signature verification failed.' },
  SB_ERR_FORBIDDEN: { status: 403, retryable: false, summary: 'The request is understood but refused (a webhook subscription handshake with the wrong verify token).' },
  SB_ERR_NOT_FOUND: { status: 404, retryable: false, summary: 'No such route or integration.' },
  SB_ERR_METHOD_NOT_ALLOWED: { status: 405, retryable: false, summary: 'The integration does not accept webhooks.' },
  SB_ERR_BODY_TOO_LARGE: { status: 413, retryable: false, summary: 'The body exceeds SWITCHBOARD_BODY_LIMIT.' },
  SB_ERR_REQUEST_TIMEOUT: { status: 408, retryable: true, summary: 'The body did not arrive within SWITCHBOARD_BODY_TIMEOUT_MS.' },
  SB_ERR_RATE_LIMITED: { status: 429, retryable: true, summary: 'Too many requests from one caller; try again later.' },
  SB_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, summary: 'The content type is not one the route accepts.' },
  SB_ERR_INVALID_PAYLOAD: { status: 422, retryable: false, summary: 'The body parses but lacks required fields or has wrong types.' },
  SB_ERR_DATABASE_UNAVAILABLE: { status: 503, retryable: true, summary: 'Postgres cannot be reached; the sender should retry.' },
  SB_ERR_INTERNAL: { status: 500, retryable: true, summary: 'An unexpected error; it is logged with the request id.' },
  SB_ERR_USAGE: { status: 400, retryable: false, summary: 'A CLI command was given wrong arguments.' },
  SB_ERR_UNKNOWN_SERVICE: { status: 400, retryable: false, summary: 'No replicator is registered under that service name.' },
  SB_ERR_INTEGRATION_REF: { status: 404, retryable: false, summary: 'An integration reference matches none, or several, integrations.' },
  SB_ERR_READ_ONLY: { status: 400, retryable: false, summary: '`switchboard sql` refused a statement that writes or needs more than its read-only role may do.' },
  SB_ERR_PROVIDER_AUTH: { status: 502, retryable: false, summary: 'A provider rejected our credentials; fix them with `integrations reset`.' },
  SB_ERR_PROVIDER_UNREACHABLE: { status: 502, retryable: true, summary: 'A provider could not be reached or answered with a server error.' },
  SB_ERR_NOT_CONNECTED: { status: 409, retryable: false, summary: 'The integration is not connected to its provider yet (e.g. no Front channel).' },
  SB_ERR_NOT_SET_UP: { status: 503, retryable: false, summary: 'A read command found no Switchboard data directory, or a database not migrated yet.' },
  SB_ERR_INVARIANT: { status: 500, retryable: false, summary: 'A stored row breaks an invariant; it is marked failed and the others go on.' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** What logs may show: the message without text a provider wrote, which can quote phone numbers and bodies. */
  readonly logMessage: string;

  /** `retryable` overrides the catalogue when one code covers both cases (a provider down vs. gone). */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean; logMessage?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SwitchboardError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.retryable = options?.retryable ?? ERRORS[code].retryable;
    this.logMessage = options?.logMessage ?? message;
  }
}

/** An error's message as logs may show it (the full one goes to the database: rows, runs, integrations). */
export function messageForLog(error: unknown): string {
  const e = coerceError(error);
  return isSwitchboardError(e) ? e.logMessage : e.message;
}

export const isSwitchboardError = (error: unknown): error is SwitchboardError => error instanceof SwitchboardError;

/** SQLSTATE classes and socket errors meaning "the database is not there right now". */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') {
    return /Connection terminated|connection timeout|timeout exceeded when trying to connect/i.test(String((error as Error)?.message));
  }
  return (
    code.startsWith('08') || // connection exception
    code === '57P01' || // admin_shutdown
    code === '57P02' || // crash_shutdown
    code === '57P03' || // cannot_connect_now
    code === '53300' || // too_many_connections
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)
  );
}

/** Normalise anything thrown into an Error, at catch boundaries. */
export function coerceError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** For replicators: the body parses but is not what the provider sends (HTTP 422). */
export const invalidPayload = (message: string) => new SwitchboardError('SB_ERR_INVALID_PAYLOAD', message);
