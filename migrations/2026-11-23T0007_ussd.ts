/**
 * USSD: one row per hop (ussd_request_v1, keyed by a de-duplication key so a repeated hop
 * is stored once and answered identically), and the sessions the hops belong to. Session
 * ids and hashes never contain a phone number (keyed HMAC-SHA256).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE ussd_request_v1 (
      pk bigserial PRIMARY KEY,
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      dedupe_key text NOT NULL,
      gateway text NOT NULL,
      session_id text,
      kind text,
      turn jsonb,
      raw_body text,
      response_status integer,
      response_content_type text,
      response_body text,
      latency_ms real,
      row_created_at timestamptz NOT NULL DEFAULT now(),
      row_updated_at timestamptz NOT NULL DEFAULT now(),
      data jsonb NOT NULL,
      UNIQUE (integration_id, dedupe_key)
    );
    CREATE INDEX ussd_request_v1_session_idx ON ussd_request_v1 (session_id);

    CREATE TABLE ussd_sessions (
      id text PRIMARY KEY,
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      gateway text NOT NULL,
      msisdn_hash text NOT NULL,
      gateway_session text,
      state jsonb,
      status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
      close_reason text,
      hops integer NOT NULL DEFAULT 0,
      last_dedupe text,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_hop_at timestamptz NOT NULL DEFAULT now(),
      closed_at timestamptz
    );
    CREATE INDEX ussd_sessions_open_idx ON ussd_sessions (last_hop_at) WHERE status = 'open';
  `.execute(db);
}
