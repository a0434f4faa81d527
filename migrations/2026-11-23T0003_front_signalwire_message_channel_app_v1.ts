/**
 * Front ⇄ SignalWire channel deliveries: one row per message per recipient. A row with
 * front_message_id but no signalwire_sid is an SMS to send; one with signalwire_sid but
 * no front_message_id is a message to import into Front. delivery_status says where it
 * stands (pending, delivered, failed with a coded reason, skipped).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE front_signalwire_message_channel_app_v1 (
      pk bigserial PRIMARY KEY,
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      external_id text NOT NULL,
      signalwire_sid text,
      front_message_id text,
      external_conversation_id text,
      direction text,
      body text,
      sender text,
      recipient text,
      delivery_status text NOT NULL DEFAULT 'pending' CHECK (delivery_status IN ('pending', 'delivered', 'failed', 'skipped')),
      delivery_error_code text,
      delivery_error_message text,
      delivery_attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz,
      send_started_at timestamptz,
      delivered_at timestamptz,
      row_created_at timestamptz NOT NULL DEFAULT now(),
      row_updated_at timestamptz NOT NULL DEFAULT now(),
      data jsonb NOT NULL,
      UNIQUE (integration_id, external_id)
    );
    CREATE INDEX fsmca_v1_signalwire_sid_idx ON front_signalwire_message_channel_app_v1 (signalwire_sid);
    CREATE INDEX fsmca_v1_front_message_id_idx ON front_signalwire_message_channel_app_v1 (front_message_id);
    CREATE INDEX fsmca_v1_external_conversation_id_idx ON front_signalwire_message_channel_app_v1 (external_conversation_id);
    CREATE INDEX fsmca_v1_row_updated_at_idx ON front_signalwire_message_channel_app_v1 (row_updated_at);
    CREATE INDEX fsmca_v1_pending_idx ON front_signalwire_message_channel_app_v1 (integration_id, pk) WHERE delivery_status = 'pending';
  `.execute(db);
}
