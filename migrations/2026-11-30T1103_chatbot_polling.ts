/**
 * Chatbot handoff polling: how far each handoff's RapidPro messages have been read
 * (chatbot_handoffs.poll_after), and the RapidPro requests made per integration and minute,
 * with any Retry-After RapidPro asked for, to keep within --rapidpro-budget-per-hour and show it.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE chatbot_handoffs ADD COLUMN poll_after timestamptz;
    CREATE TABLE chatbot_rapidpro_usage (
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      minute timestamptz NOT NULL,
      requests integer NOT NULL DEFAULT 0,
      throttled integer NOT NULL DEFAULT 0,
      blocked_until timestamptz,
      PRIMARY KEY (integration_id, minute)
    );
  `.execute(db);
}
