/**
 * USSD callers cannot be impersonated in bulk: hops counted per caller and per source
 * address in Postgres (so N web processes share one limit, not N), and the address of
 * every USSD request in the webhook log, so an operator can learn a gateway's address
 * from a refused request.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE ussd_hop_counts (
      integration_id bigint NOT NULL REFERENCES service_integrations (id) ON DELETE CASCADE,
      -- 'caller:<keyed hash of the number>' or 'address:<ip>'
      key text NOT NULL,
      window_start timestamptz NOT NULL,
      hops integer NOT NULL,
      PRIMARY KEY (integration_id, key)
    );
    ALTER TABLE webhook_log ADD COLUMN source_address text;
  `.execute(db);
}
