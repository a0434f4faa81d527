/**
 * The table of a Front channel, as a migration creates it: the columns every channel has
 * (the descriptor's columns and deliver.ts's delivery state), the channel's counterpart
 * column, and the indexes delivery needs. For channels added after the SMS and USSD ones,
 * whose migrations spelled theirs out.
 */
import { sql, type RawBuilder } from 'kysely';

export function channelTableSql(table: string, options: { counterpart: string; indexPrefix: string }): RawBuilder<unknown> {
  const { counterpart, indexPrefix: p } = options;
  return sql.raw(`
    CREATE TABLE ${table} (
      pk bigserial PRIMARY KEY,
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      external_id text NOT NULL,
      ${counterpart} text,
      front_message_id text,
      external_conversation_id text,
      direction text,
      body text,
      sender text,
      recipient text,
      delivery_status text NOT NULL DEFAULT 'pending' CHECK (delivery_status IN ('pending', 'delivered', 'failed', 'skipped')),
      delivery_error_code text,
      delivery_error_message text,
      delivery_attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz,
      send_started_at timestamptz,
      import_started_at timestamptz,
      import_external_id text,
      front_imported_id text,
      delivered_at timestamptz,
      row_created_at timestamptz NOT NULL DEFAULT now(),
      row_updated_at timestamptz NOT NULL DEFAULT now(),
      data jsonb NOT NULL,
      UNIQUE (integration_id, external_id)
    );
    CREATE INDEX ${p}_counterpart_idx ON ${table} (${counterpart});
    CREATE INDEX ${p}_conversation_idx ON ${table} (integration_id, external_conversation_id, pk);
    CREATE INDEX ${p}_pending_idx ON ${table} (integration_id, pk) WHERE delivery_status = 'pending';
    -- Front's message_imported notice names only our external id.
    CREATE INDEX ${p}_import_external_id_idx ON ${table} (integration_id, import_external_id)
      WHERE import_external_id IS NOT NULL AND front_message_id IS NULL;
  `);
}
