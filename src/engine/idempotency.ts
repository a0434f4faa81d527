/**
 * A once-ever key store for calls to the outside world (WebhookDB's
 * `Idempotency.once_ever.stored`). The first successful call under a key stores its
 * result; every later call with that key gets the stored result without calling out.
 * Concurrent callers serialise on the key's row lock, so the second one waits and then
 * reads the first one's result. A call that throws records nothing: it can run again.
 *
 * It runs in its own transaction on its own connection, so the stored result commits
 * even when the caller's transaction later rolls back. The call gets that transaction:
 * database work it does there commits with its result, and a caller never needs a second
 * connection while it holds the key (many callers at once cannot starve the pool).
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';

export interface OnceResult<T> {
  result: T;
  /** False when the stored result of an earlier call was returned. */
  ran: boolean;
}

/** `scope` keeps keys of different integrations apart (default: one global scope). */
export async function onceEver<T>(db: Kysely<Database>, key: string, call: (trx: Kysely<Database>) => Promise<T>, scope = ''): Promise<OnceResult<T>> {
  return db.transaction().execute(async (trx) => {
    // Insert the key or lock the existing one, in one statement: a concurrent caller waits
    // here until the first commits (then sees its result) or rolls back (then runs itself).
    const row = await trx
      .insertInto('idempotency_keys')
      .values({ scope, key })
      .onConflict((oc) => oc.columns(['scope', 'key']).doUpdateSet({ key: (eb) => eb.ref('excluded.key') }))
      .returning(['completed_at', 'result'])
      .executeTakeFirstOrThrow();
    if (row.completed_at) return { result: row.result as T, ran: false };
    const result = await call(trx);
    await trx
      .updateTable('idempotency_keys')
      .set({ completed_at: sql<Date>`now()`, result: JSON.stringify(result ?? null) })
      .where('scope', '=', scope)
      .where('key', '=', key)
      .execute();
    return { result, ran: true };
  });
}

/** One call of `onceEverMany`: its result (stored by an earlier call when `ran` is false), or what it threw. */
export type Settled<T> = { ok: true; result: T; ran: boolean } | { ok: false; error: unknown };

/**
 * Many once-ever calls under one transaction: every key claimed in one statement, in key
 * order (two batches that share keys lock them in the same order, so they wait for each
 * other instead of deadlocking), the calls run at once (bound their number by the batch's
 * size), then every new result is stored in one statement and `record` writes the caller's
 * outcomes in the same transaction. A call that throws records nothing and does not stop
 * the others. Keys must be distinct. A database error inside a call aborts the shared
 * transaction: nothing of the batch is stored, as after a crash, so a caller must be able
 * to tell afterwards whether its calls happened (deliver.ts: the committed start of each).
 */
export async function onceEverMany<T>(
  db: Kysely<Database>,
  calls: { key: string; call: (trx: Kysely<Database>) => Promise<T> }[],
  record: (trx: Kysely<Database>, settled: Settled<T>[]) => Promise<void>,
  scope = '',
): Promise<Settled<T>[]> {
  const keys = calls.map((c) => c.key);
  if (new Set(keys).size !== keys.length) throw new Error('onceEverMany: the keys of a batch must be distinct');
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ key: string; completed_at: Date | null; result: unknown }>`
      INSERT INTO idempotency_keys (scope, key)
      SELECT ${scope}, k FROM unnest(${keys}::text[]) AS k ORDER BY k
      ON CONFLICT (scope, key) DO UPDATE SET key = EXCLUDED.key
      RETURNING key, completed_at, result`.execute(trx);
    const stored = new Map(rows.map((row) => [row.key, row]));
    const settled = await Promise.all(
      calls.map(async ({ key, call }): Promise<Settled<T>> => {
        const earlier = stored.get(key);
        if (earlier?.completed_at) return { ok: true, result: earlier.result as T, ran: false };
        try {
          return { ok: true, result: await call(trx), ran: true };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
    const fresh = calls.flatMap(({ key }, i) => {
      const outcome = settled[i]!;
      return outcome.ok && outcome.ran ? [{ key, result: JSON.stringify(outcome.result ?? null) }] : [];
    });
    if (fresh.length > 0) {
      await sql`
        UPDATE idempotency_keys AS k SET completed_at = now(), result = v.result::jsonb
        FROM unnest(${fresh.map((f) => f.key)}::text[], ${fresh.map((f) => f.result)}::text[]) AS v(key, result)
        WHERE k.scope = ${scope} AND k.key = v.key`.execute(trx);
    }
    await record(trx, settled);
    return settled;
  });
}
