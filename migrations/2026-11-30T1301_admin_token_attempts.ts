/**
 * Wrong admin tokens counted per client address in Postgres, so that every web process
 * shares one limit (ten a minute, then a minute's lockout) instead of each granting its own.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE admin_token_attempts (
      address text PRIMARY KEY,
      failures integer NOT NULL,
      window_start timestamptz NOT NULL,
      locked_until timestamptz
    )
  `.execute(db);
}
