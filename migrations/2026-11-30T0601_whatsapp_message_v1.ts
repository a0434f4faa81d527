/** WhatsApp Cloud API messages and their status receipts, received by webhook: one row per wamid. */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE whatsapp_message_v1 (
      pk bigserial PRIMARY KEY,
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      wamid text NOT NULL,
      direction text,
      "from" text,
      "to" text,
      type text,
      status text,
      "timestamp" timestamptz,
      error_code integer,
      error_title text,
      row_created_at timestamptz NOT NULL DEFAULT now(),
      row_updated_at timestamptz NOT NULL DEFAULT now(),
      data jsonb NOT NULL,
      UNIQUE (integration_id, wamid)
    );
    CREATE INDEX whatsapp_message_v1_from_idx ON whatsapp_message_v1 ("from");
    CREATE INDEX whatsapp_message_v1_to_idx ON whatsapp_message_v1 ("to");
    CREATE INDEX whatsapp_message_v1_timestamp_idx ON whatsapp_message_v1 ("timestamp");
  `.execute(db);
}
