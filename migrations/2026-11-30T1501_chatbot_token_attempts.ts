/**
 * Attempts at a chatbot integration's `POST token/`, counted in Postgres so that every server
 * process shares one limit: per client address, and per integration across all addresses
 * (address '*'), with when each address last signed in (the bot's usual addresses).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE chatbot_token_attempts (
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      address text NOT NULL,
      failures integer NOT NULL,
      window_start timestamptz NOT NULL,
      last_success_at timestamptz,
      PRIMARY KEY (integration_id, address)
    )
  `.execute(db);
}
