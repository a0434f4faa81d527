/**
 * A USSD hop is committed as it arrives, before any answer, keyed by a per-request id
 * (`request_id`), and processed after: a hop whose processing failed stays pending
 * (`processed_at` empty) for the next pass, or is marked failed with its reason, never
 * lost. The de-duplication key is known only once the session is locked, so it is filled
 * in then; a repeated hop points at the first one (`replay_of`).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE ussd_request_v1
      ADD COLUMN request_id text NOT NULL DEFAULT gen_random_uuid()::text,
      ALTER COLUMN dedupe_key DROP NOT NULL,
      ADD COLUMN processed_at timestamptz,
      ADD COLUMN attempts integer NOT NULL DEFAULT 0,
      ADD COLUMN last_error text,
      ADD COLUMN failed_at timestamptz,
      ADD COLUMN replay_of bigint;
    -- Hops stored before this were processed in the transaction that stored them.
    UPDATE ussd_request_v1 SET processed_at = row_updated_at;
    ALTER TABLE ussd_request_v1 ADD CONSTRAINT ussd_request_v1_request_id_key UNIQUE (integration_id, request_id);
    CREATE INDEX ussd_request_v1_pending_idx ON ussd_request_v1 (integration_id, pk) WHERE processed_at IS NULL AND failed_at IS NULL;
  `.execute(db);
}
