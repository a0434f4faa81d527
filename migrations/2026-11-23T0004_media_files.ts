/**
 * Short-lived media we host for providers that need a public URL (Front attachments
 * sent as SignalWire MediaUrl). Served only with a signed, expiring URL; deleted after
 * expiry by the prune job.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE media_files (
      id text PRIMARY KEY,
      integration_id bigint REFERENCES service_integrations (id) ON DELETE CASCADE,
      filename text NOT NULL,
      content_type text NOT NULL,
      bytes bytea NOT NULL,
      secret text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX media_files_expires_at_idx ON media_files (expires_at);
  `.execute(db);
}
