/** SignalWire messages, as listed by the LaML API or received by webhook. */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE signalwire_message_v1 (
      pk bigserial PRIMARY KEY,
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      signalwire_id text NOT NULL,
      date_created timestamptz,
      date_sent timestamptz,
      date_updated timestamptz,
      direction text,
      "from" text,
      "to" text,
      status text,
      row_created_at timestamptz NOT NULL DEFAULT now(),
      row_updated_at timestamptz NOT NULL DEFAULT now(),
      data jsonb NOT NULL,
      UNIQUE (integration_id, signalwire_id)
    );
    CREATE INDEX signalwire_message_v1_date_created_idx ON signalwire_message_v1 (date_created);
    CREATE INDEX signalwire_message_v1_date_sent_idx ON signalwire_message_v1 (date_sent);
    CREATE INDEX signalwire_message_v1_date_updated_idx ON signalwire_message_v1 (date_updated);
    CREATE INDEX signalwire_message_v1_from_idx ON signalwire_message_v1 ("from");
    CREATE INDEX signalwire_message_v1_to_idx ON signalwire_message_v1 ("to");
  `.execute(db);
}
