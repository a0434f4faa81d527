/**
 * Chatbot handoff (issue 17): every state-changing request of the chatbot-facing API,
 * stored raw under a de-duplication key before it is answered (chatbot_handoff_v1); the
 * handoffs themselves, one row per (chat session, handoff sequence number), so a message
 * after a close opens a new handoff (chatbot_handoffs); and the bot's time-bound API
 * tokens, stored as SHA-256 (chatbot_tokens).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE chatbot_handoff_v1 (
      pk bigserial PRIMARY KEY,
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      request_key text NOT NULL,
      kind text NOT NULL,
      chat_session text,
      handoff integer,
      message_id text,
      contact text,
      pseudonym text,
      body text,
      body_hash text,
      ack_status text,
      response_status integer,
      response_body text,
      row_created_at timestamptz NOT NULL DEFAULT now(),
      row_updated_at timestamptz NOT NULL DEFAULT now(),
      data jsonb NOT NULL,
      UNIQUE (integration_id, request_key)
    );
    -- the repeat window: the same session and body without a message id
    CREATE INDEX chatbot_handoff_v1_repeat_idx ON chatbot_handoff_v1 (integration_id, chat_session, body_hash, row_created_at);

    CREATE TABLE chatbot_handoffs (
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      chat_session text NOT NULL,
      handoff integer NOT NULL,
      contact text NOT NULL,
      pseudonym text,
      status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
      closed_by text,
      opened_at timestamptz NOT NULL DEFAULT now(),
      last_message_at timestamptz NOT NULL DEFAULT now(),
      closed_at timestamptz,
      PRIMARY KEY (integration_id, chat_session, handoff)
    );
    CREATE INDEX chatbot_handoffs_open_idx ON chatbot_handoffs (integration_id, last_message_at) WHERE status = 'open';

    CREATE TABLE chatbot_tokens (
      token_hash text PRIMARY KEY,
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX chatbot_tokens_expiry_idx ON chatbot_tokens (expires_at);
  `.execute(db);
}
