/**
 * The webhook log: every request to a webhook route, accepted or rejected, with its
 * integration, status, reason and timing. Written in batches off the request path so
 * logging never slows or fails a webhook; pruned by age by the prune_webhook_log job and
 * by size here (SWITCHBOARD_WEBHOOK_LOG_MAX_MB).
 *
 * Strangers must not fill the disk through it: a request that matched no integration or
 * failed authentication keeps only a short body prefix and no headers, and each source
 * address may write only so many such rows a minute: counted in Postgres when written, so
 * every web process shares the limit (and in memory first, so a flood is dropped early).
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import { stripNul } from '../engine/upsert.ts';
import { webhookLogDropped } from '../metrics.ts';

export interface WebhookLogEntry {
  integrationId: number | null;
  route: string;
  method: string;
  status: number;
  reason: string | null;
  sourceAddress: string | null;
  durationMs: number;
  contentType: string | null;
  headers: Record<string, string>;
  body: Buffer | null;
  /** Authenticated (or accepted): logged in full. Otherwise a prefix, no headers, rate-limited per `source`. */
  trusted: boolean;
  /** The client address, for the rate limit only (not stored). */
  source: string;
}

const FLUSH_MS = 200;
const FLUSH_ROWS = 200;
/** Bodies beyond this are kept truncated: enough to debug, bounded in size. */
const MAX_BODY_CHARS = 64 * 1024;
/** What is kept of an unauthenticated request's body: enough to see what it was. */
export const UNTRUSTED_BODY_BYTES = 2048;
/** Unauthenticated rows one source address may write per minute; the rest are counted, not stored. */
export const UNTRUSTED_ROWS_PER_MINUTE = 30;
/** How often, at most, the table's size is checked against its cap. */
const SIZE_CHECK_MS = 10_000;
const DROPPED_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);
/** Kept as present but not as written: a stored signature would let its readers re-cut a signed request into a new one. */
const REDACTED_HEADERS = new Set(['x-signalwire-signature', 'x-twilio-signature', 'x-front-signature', 'x-hub-signature-256']);

/** IPv6 clients get a /64 each, so one cannot rotate addresses within it. */
const sourceKey = (address: string) => (address.includes(':') && !address.startsWith('::ffff:') ? address.split(':').slice(0, 4).join(':') : address);

export class WebhookLogWriter {
  readonly #db: Kysely<Database>;
  readonly #log: Logger;
  readonly #maxBytes: number;
  #pending: WebhookLogEntry[] = [];
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #untrusted = new Map<string, number>();
  #window = 0;
  #sizeCheckedAt = 0;

  constructor(db: Kysely<Database>, log: Logger, options: { maxMb: number }) {
    this.#db = db;
    this.#log = log;
    this.#maxBytes = options.maxMb * 1024 * 1024;
  }

  add(entry: WebhookLogEntry): void {
    if (!entry.trusted && !this.#admitUntrusted(entry.source)) {
      webhookLogDropped.inc();
      return;
    }
    this.#pending.push(entry);
    if (this.#pending.length >= FLUSH_ROWS) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  /** This process's share of the limit, before anything is queued: a fixed one-minute window per source, the map emptied each minute. */
  #admitUntrusted(source: string): boolean {
    const window = Math.floor(Date.now() / 60_000);
    if (window !== this.#window) {
      this.#window = window;
      this.#untrusted.clear();
    }
    const key = sourceKey(source);
    const count = (this.#untrusted.get(key) ?? 0) + 1;
    this.#untrusted.set(key, count);
    return count <= UNTRUSTED_ROWS_PER_MINUTE;
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
      if (batch.every((e) => e.trusted)) await this.#db.insertInto('webhook_log').values(batch.map(toRow)).execute();
      else {
        // The count and the rows commit together: a failed batch leaves no count behind.
        await this.#db.transaction().execute(async (trx) => {
          const kept = await withinSourceLimits(trx, batch);
          if (kept.length > 0) await trx.insertInto('webhook_log').values(kept.map(toRow)).execute();
        });
      }
      if (Date.now() - this.#sizeCheckedAt >= SIZE_CHECK_MS) {
        this.#sizeCheckedAt = Date.now();
        await this.#db.deleteFrom('webhook_log_sources').where('window_start', '<', sql<Date>`date_trunc('minute', now())`).execute();
        const deleted = await capWebhookLog(this.#db, this.#maxBytes);
        if (deleted > 0) this.#log.warn({ deleted }, 'webhook log over SWITCHBOARD_WEBHOOK_LOG_MAX_MB: oldest requests deleted');
      }
    } catch (error) {
      // The log is an audit aid; losing a batch (database down) must not affect webhooks.
      this.#log.warn({ err: (error as Error).message, entries: batch.length }, 'webhook log batch not written');
    }
  }
}

/**
 * The entries of a batch that their source's minute still has room for, counting them in
 * webhook_log_sources (rows of every process). Sources in a fixed order: two processes'
 * batches never lock the same two rows crosswise.
 */
async function withinSourceLimits(db: Kysely<Database>, batch: WebhookLogEntry[]): Promise<WebhookLogEntry[]> {
  const added = new Map<string, number>();
  for (const e of batch) if (!e.trusted) added.set(sourceKey(e.source), (added.get(sourceKey(e.source)) ?? 0) + 1);
  const sources = [...added.keys()].sort();
  const { rows } = await sql<{ source: string; rows: number }>`
    INSERT INTO webhook_log_sources AS s (source, window_start, rows)
    SELECT source, date_trunc('minute', now()), n FROM unnest(${sources}::text[], ${sources.map((s) => added.get(s))}::int[]) AS t(source, n) ORDER BY source
    ON CONFLICT (source) DO UPDATE SET
      rows = CASE WHEN s.window_start = excluded.window_start THEN s.rows + excluded.rows ELSE excluded.rows END,
      window_start = excluded.window_start
    RETURNING source, rows`.execute(db);
  const room = new Map(rows.map((r) => [r.source, UNTRUSTED_ROWS_PER_MINUTE - (r.rows - added.get(r.source)!)]));
  const kept = batch.filter((e) => {
    if (e.trusted) return true;
    const left = room.get(sourceKey(e.source)) ?? 0;
    room.set(sourceKey(e.source), left - 1);
    return left > 0;
  });
  if (kept.length < batch.length) webhookLogDropped.inc(batch.length - kept.length);
  return kept;
}

function toRow(e: WebhookLogEntry) {
  const headers = e.trusted
    ? Object.fromEntries(
        Object.entries(e.headers)
          .filter(([name]) => !DROPPED_HEADERS.has(name))
          .map(([name, value]) => [name, REDACTED_HEADERS.has(name) ? '(redacted)' : value]),
      )
    : {};
  const body = e.body && (e.trusted ? e.body.toString('utf8').slice(0, MAX_BODY_CHARS) : e.body.subarray(0, UNTRUSTED_BODY_BYTES).toString('utf8'));
  return {
    integration_id: e.integrationId,
    route: e.route,
    method: e.method,
    status: e.status,
    reason: e.reason,
    source_address: e.sourceAddress,
    duration_ms: e.durationMs,
    content_type: e.contentType,
    headers: JSON.stringify(stripNul(headers)),
    body: body === null ? null : (stripNul(body) as string),
  };
}

/**
 * Once the table (with its indexes) takes more than `maxBytes` on disk, deletes the oldest
 * rows until the rest hold at most half of it: the other half is for indexes and the space
 * deleted rows leave for new ones. Returns how many rows went.
 */
export async function capWebhookLog(db: Kysely<Database>, maxBytes: number): Promise<number> {
  const { rows } = await sql<{ size: number }>`SELECT pg_total_relation_size('webhook_log') AS size`.execute(db);
  if ((rows[0]?.size ?? 0) <= maxBytes) return 0;
  const result = await sql`
    DELETE FROM webhook_log WHERE id <= (
      SELECT id FROM (SELECT id, sum(pg_column_size(w.*)) OVER (ORDER BY id DESC) AS kept FROM webhook_log w) newest
      WHERE kept > ${Math.floor(maxBytes / 2)} ORDER BY id DESC LIMIT 1)`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
