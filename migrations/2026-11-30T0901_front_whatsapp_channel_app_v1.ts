/**
 * Front ⇄ WhatsApp channel: clients' WhatsApp messages (inbound rows, imported into Front),
 * counsellors' replies (outbound rows, sent through the whatsapp_message_v1 integration,
 * their wamid written back) and notices to the counsellor. The common channel table
 * (front-channel/table.ts) with `whatsapp_wamid` as its counterpart; `channel_messages`
 * gains its rows (entry `whatsapp`) and every row's provider id as `provider_message_id`.
 */
import type { Kysely } from 'kysely';
import { channelMessagesView, VIEWS_BEFORE_CHATBOT } from '../src/replicators/front-channel/channel-messages.ts';
import { channelTableSql } from '../src/replicators/front-channel/table.ts';

export async function up(db: Kysely<unknown>): Promise<void> {
  await channelTableSql('front_whatsapp_channel_app_v1', { counterpart: 'whatsapp_wamid', indexPrefix: 'fwca_v1' }).execute(db);
  await channelMessagesView(VIEWS_BEFORE_CHATBOT).execute(db);
}
