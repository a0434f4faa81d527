/**
 * Ending a handoff and keeping the bot quiet meanwhile: what RapidPro has been told of a
 * handoff (contact added to --handoff-group when it opened; on an end the bot did not make,
 * --close-flow started or the contact's runs interrupted; contact removed from the group),
 * each done once by the handoff integration's passes.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE chatbot_handoffs
      ADD COLUMN group_added_at timestamptz,
      ADD COLUMN bot_told_at timestamptz,
      ADD COLUMN group_removed_at timestamptz,
      ADD COLUMN rapidpro_error text,
      -- passes run on every message now: a handoff is polled at most once a minute
      ADD COLUMN polled_at timestamptz;
  `.execute(db);
}
