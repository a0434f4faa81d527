/**
 * Group commit for webhooks. A webhook's rows are committed before it is answered, and
 * the commit (a WAL flush), the dependents lookup and the backfill request cost as much as
 * the upsert itself. So webhooks of one integration share transactions: while one commit
 * is in flight, the requests that arrive wait, and the next transaction takes all of them
 * (up to MAX_BATCH_ROWS rows) in one multi-row upsert. No timer: a lone webhook commits at
 * once, and batches grow only when commits are the bottleneck.
 *
 * Per integration rather than global: a helpline's batch never waits on another's locks or
 * retries, the backfill barrier and dependents are per integration, and different
 * integrations still commit in parallel on the pool.
 *
 * Each caller gets its own rows back, only after the commit that holds them. When a batch
 * fails, each of its requests is retried in its own transaction (ingestRows), so a bad
 * row fails its own request only. Requests whose answer depends on more than their rows'
 * commit (USSD hops, answered with the flow's output) do not come here.
 */
import type { ServiceIntegration } from '../db/schema.ts';
import { webhookBatchRequests, webhookCommits, webhookWaiting } from '../metrics.ts';
import type { Engine } from './engine.ts';
import { ingestRounds, ingestRows } from './ingest.ts';
import type { RowInput, UpsertedRow } from './replicator.ts';
import { stripNul } from './upsert.ts';

/** Rows per group commit: one upsert statement's worth (upsert.ts BATCH_SIZE). */
const MAX_BATCH_ROWS = 500;

interface Waiting {
  integration: ServiceIntegration;
  rows: RowInput[];
  resolve(rows: UpsertedRow[]): void;
  reject(error: unknown): void;
}

/** Per engine (a process has one; tests build several), per integration id: the requests waiting, and whether a commit is in flight. */
const queues = new WeakMap<Engine, Map<number, Waiting[]>>();

/** Store a webhook's rows (with dependents' rows and any backfill request), sharing the transaction with concurrent webhooks of the integration. */
export function commitWebhookRows(engine: Engine, integration: ServiceIntegration, rows: RowInput[]): Promise<UpsertedRow[]> {
  if (rows.length === 0) return Promise.resolve([]);
  let byIntegration = queues.get(engine);
  if (!byIntegration) queues.set(engine, (byIntegration = new Map()));
  return new Promise((resolve, reject) => {
    const waiting = byIntegration.get(integration.id);
    const entry = { integration, rows, resolve, reject };
    if (waiting) {
      waiting.push(entry);
      webhookWaiting.inc();
      return;
    }
    // Nothing in flight: this request commits now; later ones queue behind it.
    byIntegration.set(integration.id, []);
    void drain(engine, byIntegration, integration.id, [entry]);
  });
}

async function drain(engine: Engine, byIntegration: Map<number, Waiting[]>, integrationId: number, first: Waiting[]): Promise<void> {
  let batch = first;
  while (batch.length > 0) {
    await commitBatch(engine, batch);
    const waiting = byIntegration.get(integrationId)!;
    batch = takeBatch(waiting);
    webhookWaiting.dec(batch.length);
  }
  byIntegration.delete(integrationId);
}

/** The oldest waiting requests, up to MAX_BATCH_ROWS rows (at least one request). */
function takeBatch(waiting: Waiting[]): Waiting[] {
  let rows = 0;
  let count = 0;
  while (count < waiting.length && (count === 0 || rows + waiting[count]!.rows.length <= MAX_BATCH_ROWS)) rows += waiting[count++]!.rows.length;
  return waiting.splice(0, count);
}

async function commitBatch(engine: Engine, batch: Waiting[]): Promise<void> {
  webhookBatchRequests.observe(batch.length);
  try {
    const { rounds, placement } = planRounds(batch);
    // The newest read of the integration: requests may have looked it up at different times.
    const upserted = await ingestRounds(engine, batch.at(-1)!.integration, rounds, { origin: 'webhook' });
    webhookCommits.inc({ outcome: 'committed' });
    batch.forEach((entry, i) => {
      const { round, keys } = placement[i]!;
      const byKey = new Map(upserted[round]!.map((row) => [row.key, row]));
      entry.resolve(keys.map((key) => byKey.get(key)!));
    });
  } catch (error) {
    if (batch.length === 1) return batch[0]!.reject(error);
    webhookCommits.inc({ outcome: 'retried' });
    // The error may quote a row's values (a phone number): its code only.
    engine.log.warn({ code: (error as { code?: unknown }).code, requests: batch.length }, 'group commit failed; retrying its requests one at a time');
    await Promise.all(
      batch.map((entry) => ingestRows(engine, entry.integration, entry.rows, { origin: 'webhook' }).then(entry.resolve, entry.reject)),
    );
  }
}

/**
 * One upsert statement per round. Requests go into the current round unless one of their
 * keys is already in it: one statement keeps only the last write of a key, where two
 * requests in a row must each meet the update condition (a later, older version loses).
 */
function planRounds(batch: Waiting[]): { rounds: RowInput[][]; placement: { round: number; keys: string[] }[] } {
  const rounds: RowInput[][] = [];
  const placement: { round: number; keys: string[] }[] = [];
  let roundKeys = new Set<string>();
  for (const entry of batch) {
    // First occurrence order, as upsertRows answers.
    const keys = [...new Set(entry.rows.map((row) => stripNul(row.key) as string))];
    if (rounds.length === 0 || keys.some((key) => roundKeys.has(key))) {
      rounds.push([]);
      roundKeys = new Set();
    }
    rounds.at(-1)!.push(...entry.rows);
    for (const key of keys) roundKeys.add(key);
    placement.push({ round: rounds.length - 1, keys });
  }
  return { rounds, placement };
}
