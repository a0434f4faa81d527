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
