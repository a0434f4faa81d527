/**
 * The start-up table check: every registered replicator's table has the columns its
 * descriptor declares, the Front channels' delivery state columns included.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { assertTables, tableProblems } from '../../src/engine/table-check.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();
const registry = defaultRegistry();

/** Run `check` after `change`, then undo the change. */
async function withChange<T>(change: ReturnType<typeof sql>, check: (db: Parameters<typeof tableProblems>[0]) => Promise<T>): Promise<T> {
  let result: T | undefined;
  await database()
    .db.transaction()
    .execute(async (trx) => {
      await change.execute(trx);
      result = await check(trx);
      throw new Error('rollback');
    })
    .catch((error: Error) => {
      if (error.message !== 'rollback') throw error;
    });
  return result as T;
}

describe('table check', () => {
  it('passes on the migrated database', async () => {
    await expect(assertTables(database().db, registry)).resolves.toBeUndefined();
  });

  it.each(['front_signalwire_message_channel_app_v1', 'front_ussd_channel_app_v1'])('declares the delivery state columns of %s', (name) => {
    const declared = (registry.get(name).stateColumns ?? []).map((c) => c.name);
    expect(declared).toEqual(expect.arrayContaining(['delivery_status', 'delivery_attempts', 'next_attempt_at', 'send_started_at', 'import_started_at', 'import_external_id', 'front_imported_id']));
  });

  it.each([
    ['a delivery state column is missing', sql`ALTER TABLE front_ussd_channel_app_v1 DROP COLUMN import_started_at`, 'front_ussd_channel_app_v1.import_started_at is missing'],
    ['a delivery state column has another type', sql`ALTER TABLE front_signalwire_message_channel_app_v1 ALTER COLUMN delivery_attempts TYPE bigint`, 'front_signalwire_message_channel_app_v1.delivery_attempts is bigint, expected integer'],
  ])('refuses to start when %s', async (_case, change, problem) => {
    const error = await withChange(change, (db) => assertTables(db, registry).then(() => null, (e: Error) => e));
    expect(error?.message).toContain(problem);
  });
});
