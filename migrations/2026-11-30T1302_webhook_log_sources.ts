/**
 * Unauthenticated webhook-log rows counted per source address and minute in Postgres, so
 * that every web process shares one limit instead of each granting its own.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE webhook_log_sources (
      -- the client address (IPv6: its /64); kept only for the current minute
      source text PRIMARY KEY,
      window_start timestamptz NOT NULL,
      rows integer NOT NULL
    )
  `.execute(db);
}
