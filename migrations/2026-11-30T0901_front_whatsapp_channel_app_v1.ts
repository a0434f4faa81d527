/**
 * Front ⇄ WhatsApp channel: clients' WhatsApp messages (inbound rows, imported into Front),
 * counsellors' replies (outbound rows, sent through the whatsapp_message_v1 integration,
 * their wamid written back) and notices to the counsellor. Delivery columns as in the
 * other channels; `channel_messages` gains its rows (entry `whatsapp`) and every row's
 * provider id as `provider_message_id`.
 */
import { sql, type Kysely } from 'kysely';
import { channelMessagesView } from '../src/replicators/front-channel/channel-messages.ts';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE front_whatsapp_channel_app_v1 (
      pk bigserial PRIMARY KEY,
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      external_id text NOT NULL,
      whatsapp_wamid text,
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
      import_started_at timestamptz,
      import_external_id text,
      front_imported_id text,
      delivered_at timestamptz,
      row_created_at timestamptz NOT NULL DEFAULT now(),
      row_updated_at timestamptz NOT NULL DEFAULT now(),
      data jsonb NOT NULL,
      UNIQUE (integration_id, external_id)
    );
    CREATE INDEX fwca_v1_wamid_idx ON front_whatsapp_channel_app_v1 (whatsapp_wamid);
    CREATE INDEX fwca_v1_conversation_idx ON front_whatsapp_channel_app_v1 (integration_id, external_conversation_id, pk);
    CREATE INDEX fwca_v1_pending_idx ON front_whatsapp_channel_app_v1 (integration_id, pk) WHERE delivery_status = 'pending';
    CREATE INDEX fwca_v1_import_external_id_idx ON front_whatsapp_channel_app_v1 (integration_id, import_external_id) WHERE import_external_id IS NOT NULL AND front_message_id IS NULL;
  `.execute(db);
  await channelMessagesView().execute(db);
}
