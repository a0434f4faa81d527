/**
 * A backfill requested while a pass of the integration runs is recorded here, for the
 * running pass to pick up before it releases its lock: one more pass, at once, instead of
 * a job polling for the lock.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE service_integrations ADD COLUMN backfill_requested jsonb`.execute(db);
}
