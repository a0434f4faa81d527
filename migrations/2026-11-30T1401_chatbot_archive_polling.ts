/**
 * The fallback for a missed archive event: a handoff's Front conversation id (learned once,
 * from one of its imported messages) and when its status was last read from Front.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE chatbot_handoffs
      ADD COLUMN front_conversation_id text,
      ADD COLUMN front_checked_at timestamptz;
  `.execute(db);
}
