/**
 * Front ⇄ USSD channel: what clients type over USSD (inbound rows, imported into Front)
 * and counsellors' replies (outbound rows: sent by SMS when the client agreed, and shown
 * under "Read replies" at the next dial until read). Delivery columns as in the SMS channel.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE front_ussd_channel_app_v1 (
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
      sms_consent boolean,
      ussd_request_id bigint,
      read_at timestamptz,
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
    CREATE INDEX fuca_v1_signalwire_sid_idx ON front_ussd_channel_app_v1 (signalwire_sid);
    CREATE INDEX fuca_v1_conversation_idx ON front_ussd_channel_app_v1 (integration_id, external_conversation_id, pk);
    CREATE INDEX fuca_v1_pending_idx ON front_ussd_channel_app_v1 (integration_id, pk) WHERE delivery_status = 'pending';
    CREATE INDEX fuca_v1_unread_idx ON front_ussd_channel_app_v1 (integration_id, recipient) WHERE direction = 'outbound' AND read_at IS NULL;
  `.execute(db);
}
