/**
 * Switchboard's acknowledgements to the bot platform (--ack-url): a client message imported
 * into Front is acknowledged once, tracked on its chatbot_handoff_v1 row.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE chatbot_handoff_v1
      ADD COLUMN helpline_ack_at timestamptz,
      ADD COLUMN helpline_ack_attempts integer NOT NULL DEFAULT 0,
      ADD COLUMN helpline_ack_error text;
    CREATE INDEX chatbot_handoff_v1_ack_pending_idx ON chatbot_handoff_v1 (integration_id, pk)
      WHERE kind = 'chat' AND helpline_ack_at IS NULL AND helpline_ack_error IS NULL;
  `.execute(db);
}
