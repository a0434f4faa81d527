/**
 * The process logger: structured JSON (pino) on stderr, so stdout stays clean for
 * CLI output such as `--json`. Secrets never reach it: known secret-bearing keys are
 * censored, and callers log integration ids, never keys, bodies or phone numbers.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  '*.authorization',
  '*.password',
  '*.api_key',
  '*.apiKey',
  '*.backfill_secret',
  '*.webhook_secret',
  '*.connectionString',
  'headers.authorization',
  'headers.cookie',
];

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino(
    { level, base: { pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' } },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** Strip credentials from a connection URL before it is shown anywhere. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '[unparseable url]';
  }
}
