/**
 * `channel_messages` (and so `conversation_sessions`, `delivery_failures` and the dashboard)
 * gains the chatbot channel's messages, entry `chatbot`, conversation `<session>#<handoff>`,
 * and every row's provider id as `provider_message_id`.
 */
import type { Kysely } from 'kysely';
import { channelMessagesView } from '../src/replicators/front-channel/channel-messages.ts';

export async function up(db: Kysely<unknown>): Promise<void> {
  await channelMessagesView().execute(db);
}
