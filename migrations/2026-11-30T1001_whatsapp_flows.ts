/**
 * Flows over WhatsApp. Sessions are the USSD ones (`ussd_sessions`, gateway 'whatsapp'),
 * each with its own idle time (`idle_seconds`; NULL: SWITCHBOARD_USSD_SESSION_TIMEOUT_S),
 * so the one sweeper closes both. `whatsapp_flow_steps`: one row per client message a flow
 * pass processed (a message still undecided but with a step is held for the handoff), with
 * the reply to send, sent once: `send_started_at` is committed before the send, so an
 * attempt whose answer was lost is looked for in the status receipts before any resend.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE ussd_sessions ADD COLUMN idle_seconds integer CHECK (idle_seconds > 0);
    CREATE TABLE whatsapp_flow_steps (
      pk bigserial PRIMARY KEY,
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      wamid text NOT NULL,
      session_id text NOT NULL,
      recipient text NOT NULL,
      reply jsonb,
      send_started_at timestamptz,
      sent_wamid text,
      sent_at timestamptz,
      error_code integer,
      error_title text,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (integration_id, wamid)
    );
    CREATE INDEX whatsapp_flow_steps_unsent_idx ON whatsapp_flow_steps (integration_id, recipient, pk)
      WHERE reply IS NOT NULL AND sent_wamid IS NULL AND error_code IS NULL;
  `.execute(db);
}
