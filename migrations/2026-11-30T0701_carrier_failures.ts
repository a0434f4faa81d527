/**
 * A reply the carrier failed after SignalWire accepted it (status `failed`/`undelivered`)
 * reads as `carrier_failed` in `channel_messages`, with the carrier's code and message,
 * and is listed in `delivery_failures` beside the provider's refusals (`state` tells them apart);
 * a counsellor's USSD reply has `entry` `ussd` instead of `ussd:?`.
 */
import { sql, type Kysely } from 'kysely';
import { channelMessagesView, VIEWS_BEFORE_CHATBOT } from '../src/replicators/front-channel/channel-messages.ts';

export async function up(db: Kysely<unknown>): Promise<void> {
  await channelMessagesView(VIEWS_BEFORE_CHATBOT).execute(db);
  await sql`
    CREATE OR REPLACE VIEW delivery_failures AS
      SELECT channel, integration_id, pk, conversation_id, direction, delivery_error_code AS error_code,
             delivery_error_message AS error_message, created_at, delivery_status AS state
      FROM channel_messages
      WHERE delivery_status IN ('failed', 'carrier_failed')`.execute(db);
}
