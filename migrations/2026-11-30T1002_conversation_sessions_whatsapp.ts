/**
 * `conversation_sessions` from its one definition (src/db/conversation-sessions.ts), now
 * counting what WhatsApp clients wrote to a flow, so a session that began in a WhatsApp menu
 * enters by 'whatsapp'. Same columns as before (docs/sql.md).
 */
import type { Kysely } from 'kysely';
import { conversationSessionsView } from '../src/db/conversation-sessions.ts';

export async function up(db: Kysely<unknown>): Promise<void> {
  await conversationSessionsView().execute(db);
}
