/**
 * `channel_messages` rebuilt from its one definition (src/replicators/front-channel/
 * channel-messages.ts) instead of being re-declared whole here, and with the transport's
 * status of each message (`transport_status`), so the dashboard no longer joins a
 * provider's table by name.
 */
import type { Kysely } from 'kysely';
import { channelMessagesView, VIEWS_BEFORE_CHATBOT } from '../src/replicators/front-channel/channel-messages.ts';

export async function up(db: Kysely<unknown>): Promise<void> {
  await channelMessagesView(VIEWS_BEFORE_CHATBOT).execute(db);
}
