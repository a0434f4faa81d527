/**
 * Paced sends (src/providers/send-rate.ts): per bucket (a provider's sender), the time the
 * next send may go, shared by every worker. UNLOGGED: it is rewritten on every send, and
 * after a crash an empty table only means no send waits.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE UNLOGGED TABLE provider_send_slots (bucket text PRIMARY KEY, next_at timestamptz NOT NULL)`.execute(db);
}
