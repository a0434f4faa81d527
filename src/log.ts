/**
 * The process logger (pino) on stderr, so stdout stays clean for CLI output such as
 * `--json`: JSON lines for machines (a pipe, a container, a log shipper), or short human
 * lines on a terminal (`LOG_FORMAT=pretty|json` chooses). Secrets never reach it: known
 * secret-bearing keys are censored before either format, and callers log integration ids,
 * never keys, bodies or phone numbers.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };
export type LogFormat = 'pretty' | 'json';

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

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMIT = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** One pino JSON line as `12:03:04 WARN  message key=value …`. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = new Date(typeof entry.time === 'number' ? entry.time : Date.now()).toISOString().slice(11, 19);
  const level = (LEVELS[entry.level as number] ?? String(entry.level)).padEnd(5);
  const fields = Object.entries(entry)
    .filter(([key]) => !OMIT.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return `${time} ${level} ${String(entry.msg ?? '')}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}\n`;
}

/**
 * A tiny destination rather than pino-pretty: one short line per entry needs no
 * dependency, and it stays in-process (no worker thread) so lines keep their order with
 * what the CLI itself writes to stderr.
 */
function prettyDestination(): DestinationStream {
  return { write: (line: string) => void process.stderr.write(prettyLine(line)) };
}

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', format: LogFormat = 'json'): Logger {
  return pino(
    { level, base: { pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' } },
    format === 'pretty' ? prettyDestination() : pino.destination({ fd: 2, sync: false }),
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
