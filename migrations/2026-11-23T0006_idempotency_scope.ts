/**
 * Idempotency keys are unique per scope (an integration), so two integrations that see the
 * same provider id (one SMS between two bridged numbers) never share a stored result.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE idempotency_keys ADD COLUMN scope text NOT NULL DEFAULT '';
    ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
    ALTER TABLE idempotency_keys ADD PRIMARY KEY (scope, key);
  `.execute(db);
}
