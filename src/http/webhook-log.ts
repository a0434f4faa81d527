/**
 * The webhook log: every request to a webhook route, accepted or rejected, with its
 * integration, status, reason and timing. Written in batches off the request path so
 * logging never slows or fails a webhook; pruned by the prune_webhook_log job.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import { stripNul } from '../engine/upsert.ts';

export interface WebhookLogEntry {
  integrationId: number | null;
  route: string;
  method: string;
  status: number;
  reason: string | null;
  durationMs: number;
  contentType: string | null;
  headers: Record<string, string>;
  body: Buffer | null;
}

const FLUSH_MS = 200;
const FLUSH_ROWS = 200;
/** Bodies beyond this are kept truncated: enough to debug, bounded in size. */
const MAX_BODY_CHARS = 64 * 1024;
const DROPPED_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);
/** Kept as present but not as written: a stored signature would let its readers re-cut a signed request into a new one. */
const REDACTED_HEADERS = new Set(['x-signalwire-signature', 'x-twilio-signature', 'x-front-signature']);

export class WebhookLogWriter {
  readonly #db: Kysely<Database>;
  readonly #log: Logger;
  #pending: WebhookLogEntry[] = [];
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();

  constructor(db: Kysely<Database>, log: Logger) {
    this.#db = db;
    this.#log = log;
  }

  add(entry: WebhookLogEntry): void {
    this.#pending.push(entry);
    if (this.#pending.length >= FLUSH_ROWS) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return this.#flushing;
    this.#flushing = this.#flushing.then(() => this.#write(batch));
    return this.#flushing;
  }

  async #write(batch: WebhookLogEntry[]): Promise<void> {
    try {
      await this.#db
        .insertInto('webhook_log')
        .values(
          batch.map((e) => ({
            integration_id: e.integrationId,
            route: e.route,
            method: e.method,
            status: e.status,
            reason: e.reason,
            duration_ms: e.durationMs,
            content_type: e.contentType,
            headers: JSON.stringify(
              stripNul(
                Object.fromEntries(
                  Object.entries(e.headers)
                    .filter(([name]) => !DROPPED_HEADERS.has(name))
                    .map(([name, value]) => [name, REDACTED_HEADERS.has(name) ? '(redacted)' : value]),
                ),
              ),
            ),
            body: e.body ? (stripNul(e.body.toString('utf8').slice(0, MAX_BODY_CHARS)) as string) : null,
          })),
        )
        .execute();
    } catch (error) {
      // The log is an audit aid; losing a batch (database down) must not affect webhooks.
      this.#log.warn({ err: (error as Error).message, entries: batch.length }, 'webhook log batch not written');
    }
  }
}
