/**
 * Front ⇄ chatbot channel: clients' messages of a handoff (inbound rows, imported into the
 * handoff's Front conversation) and counsellors' replies (outbound rows, sent through
 * RapidPro's API; rapidpro_status tracks the RapidPro message to a final status and
 * client_status holds the bot's receipt). Delivery columns as in the other Front channels.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE front_chatbot_channel_app_v1 (
      pk bigserial PRIMARY KEY,
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      external_id text NOT NULL,
      rapidpro_message_uuid text,
      front_message_id text,
      external_conversation_id text,
      direction text,
      body text,
      sender text,
      recipient text,
      chat_session text,
      handoff integer,
      pseudonym text,
      rapidpro_status text,
      rapidpro_checked_at timestamptz,
      client_status text,
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
    CREATE INDEX fcca_v1_rapidpro_uuid_idx ON front_chatbot_channel_app_v1 (integration_id, rapidpro_message_uuid);
    CREATE INDEX fcca_v1_conversation_idx ON front_chatbot_channel_app_v1 (integration_id, external_conversation_id, pk);
    CREATE INDEX fcca_v1_pending_idx ON front_chatbot_channel_app_v1 (integration_id, pk) WHERE delivery_status = 'pending';
    -- replies whose RapidPro status is not final yet: the status pass polls them
    CREATE INDEX fcca_v1_tracking_idx ON front_chatbot_channel_app_v1 (integration_id, pk)
      WHERE direction = 'outbound' AND delivery_status = 'delivered' AND NOT data ? 'notice'
        AND (rapidpro_status IS NULL OR rapidpro_status NOT IN ('delivered', 'read', 'failed'));
    CREATE INDEX fcca_v1_import_external_id_idx ON front_chatbot_channel_app_v1 (integration_id, import_external_id)
      WHERE import_external_id IS NOT NULL AND front_message_id IS NULL;
  `.execute(db);
}
