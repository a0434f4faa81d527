/**
 * The engine's own tables: integrations, backfill runs, the idempotency store and the
 * webhook log. Replicator tables come in their own migrations. Frozen: never edit a
 * migration that has shipped; add a new one.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE service_integrations (
      id bigserial PRIMARY KEY,
      opaque_id text NOT NULL UNIQUE,
      service_name text NOT NULL,
      depends_on bigint REFERENCES service_integrations (id) ON DELETE RESTRICT,
      api_url text,
      backfill_key text,
      backfill_secret text,
      webhook_secret text,
      api_key_hash text UNIQUE,
      settings jsonb NOT NULL DEFAULT '{}',
      last_backfilled_at timestamptz,
      last_error_code text,
      last_error_message text,
      last_error_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX service_integrations_service_name_idx ON service_integrations (service_name);
    CREATE INDEX service_integrations_depends_on_idx ON service_integrations (depends_on);

    CREATE TABLE backfill_runs (
      id bigserial PRIMARY KEY,
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      incremental boolean NOT NULL,
      trigger text NOT NULL,
      status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
      rows_processed integer NOT NULL DEFAULT 0,
      rows_total integer,
      error text,
      started_at timestamptz NOT NULL DEFAULT now(),
      heartbeat_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz
    );
    CREATE INDEX backfill_runs_integration_idx ON backfill_runs (integration_id, started_at DESC);

    CREATE TABLE idempotency_keys (
      key text PRIMARY KEY,
      created_at timestamptz NOT NULL DEFAULT now(),
      completed_at timestamptz,
      result jsonb
    );

    CREATE TABLE webhook_log (
      id bigserial PRIMARY KEY,
      received_at timestamptz NOT NULL DEFAULT now(),
      integration_id bigint, -- no FK: a request may delete its own integration (Front "delete")
      route text NOT NULL,
      method text NOT NULL,
      status smallint NOT NULL,
      reason text,
      duration_ms real NOT NULL,
      content_type text,
      headers jsonb NOT NULL DEFAULT '{}',
      body text
    );
    CREATE INDEX webhook_log_received_at_idx ON webhook_log (received_at);
    CREATE INDEX webhook_log_integration_idx ON webhook_log (integration_id, received_at DESC);
  `.execute(db);
}
