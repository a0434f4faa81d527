/**
 * Front ⇄ chatbot channel: clients' messages of a handoff (inbound rows, imported into the
 * handoff's Front conversation) and counsellors' replies (outbound rows, sent through
 * RapidPro's API; rapidpro_status tracks the RapidPro message to a final status and
 * client_status holds the bot's receipt). The common channel table (front-channel/table.ts)
 * with `rapidpro_message_uuid` as its counterpart, and the chatbot's own columns.
 */
import { sql, type Kysely } from 'kysely';
import { channelTableSql } from '../src/replicators/front-channel/table.ts';

export async function up(db: Kysely<unknown>): Promise<void> {
  await channelTableSql('front_chatbot_channel_app_v1', { counterpart: 'rapidpro_message_uuid', indexPrefix: 'fcca_v1' }).execute(db);
  await sql`
    ALTER TABLE front_chatbot_channel_app_v1
      ADD COLUMN chat_session text,
      ADD COLUMN handoff integer,
      ADD COLUMN pseudonym text,
      ADD COLUMN rapidpro_status text,
      ADD COLUMN rapidpro_checked_at timestamptz,
      ADD COLUMN client_status text;
    -- replies whose RapidPro status is not final yet: the status pass polls them
    CREATE INDEX fcca_v1_tracking_idx ON front_chatbot_channel_app_v1 (integration_id, pk)
      WHERE direction = 'outbound' AND delivery_status = 'delivered' AND NOT data ? 'notice'
        AND (rapidpro_status IS NULL OR rapidpro_status NOT IN ('delivered', 'read', 'failed'));
  `.execute(db);
}
