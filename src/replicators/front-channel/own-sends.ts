/**
 * Telling our own sends from other messages, for the two places they meet: a poll or
 * callback showing an SMS we sent (whose sid we may not have written back yet), and a
 * resend after an unknown outcome looking for the SMS it may already have sent. Works on
 * any Front channel's table (the integration's service name).
 */
import { sql, type Kysely } from 'kysely';
import type { ServiceIntegration } from '../../db/schema.ts';
import type { Registry } from '../../engine/registry.ts';
import { parseSignalWireDate } from '../../providers/signalwire/client.ts';

/** A database handle (a transaction, in a dependency hook) and the process's replicators. */
export interface Lookup {
  db: Kysely<any>;
  registry: Registry;
}

/** How long a send may take before SignalWire records the message. */
const SEND_WINDOW = sql`interval '2 minutes'`;

/**
 * This channel and every other channel sending from the same number through the same
 * SignalWire integration: the registered replicators that depend on the same service.
 */
async function channelsOnNumber({ db, registry }: Lookup, integration: ServiceIntegration): Promise<ServiceIntegration[]> {
  const transport = registry.get(integration.service_name).dependsOn;
  const channels = registry.list().filter((r) => r.dependsOn === transport).map((r) => r.name);
  const others = await db
    .selectFrom('service_integrations')
    .selectAll()
    .where('service_name', 'in', channels)
    .where('depends_on', '=', integration.depends_on)
    .where('api_url', '=', integration.api_url)
    .where('id', '!=', integration.id)
    .orderBy('id')
    .execute();
  return [integration, ...(others as ServiceIntegration[])];
}

/**
 * Which of `sids` are messages we sent or imported already, on any channel of this number
 * (notice rows carry the sid of the failure they report, not a message). One query for a
 * whole batch of a dependency hook.
 */
export async function knownMessages(lookup: Lookup, integration: ServiceIntegration, sids: readonly string[]): Promise<Set<string>> {
  if (sids.length === 0) return new Set();
  const wanted = [...new Set(sids)];
  const lookups = (await channelsOnNumber(lookup, integration)).map(
    (channel) =>
      sql`SELECT signalwire_sid AS sid FROM ${sql.table(channel.service_name)}
          WHERE integration_id = ${channel.id} AND signalwire_sid = ANY(${wanted}::text[]) AND NOT data ? 'notice'`,
  );
  const { rows } = await sql<{ sid: string }>`${sql.join(lookups, sql` UNION `)}`.execute(lookup.db);
  return new Set(rows.map((row) => row.sid));
}

/** Whether one sid is a message we sent or imported already (see knownMessages). */
export async function isKnownMessage(lookup: Lookup, integration: ServiceIntegration, sid: string): Promise<boolean> {
  return (await knownMessages(lookup, integration, [sid])).has(sid);
}

/**
 * WebhookDB's duplicate window: a send whose sid we have not written back yet (the
 * response was lost, or the write is in flight) shows up in a poll as an outbound-api
 * message. Match it to our row waiting for that send, and record the sid there instead of
 * importing it into Front as someone else's message.
 */
export async function adoptOwnSend(
  lookup: Lookup,
  integration: ServiceIntegration,
  sid: string,
  from: string,
  to: string,
  data: Record<string, unknown>,
): Promise<boolean> {
  for (const channel of await channelsOnNumber(lookup, integration)) {
    if (await adoptInto(lookup.db, channel, sid, from, to, data)) return true;
  }
  return false;
}

async function adoptInto(db: Kysely<any>, integration: ServiceIntegration, sid: string, from: string, to: string, data: Record<string, unknown>): Promise<boolean> {
  const TABLE = sql.table(integration.service_name);
  const created = parseSignalWireDate(data.date_created) ?? new Date();
  const { rows } = await sql<{ pk: number }>`
    UPDATE ${TABLE} SET signalwire_sid = ${sid}, delivery_status = 'delivered', delivered_at = now(), row_updated_at = now()
    WHERE pk = (
      SELECT pk FROM ${TABLE}
      WHERE integration_id = ${integration.id} AND delivery_status = 'pending' AND signalwire_sid IS NULL
        AND sender = ${from} AND recipient = ${to}
        AND COALESCE(body, '') = ${typeof data.body === 'string' ? data.body : ''}
        -- created while our attempt was under way: not an older, unrelated message with the same text
        AND send_started_at BETWEEN ${created}::timestamptz - ${SEND_WINDOW} AND ${created}::timestamptz + interval '1 minute'
      ORDER BY send_started_at DESC LIMIT 1 FOR UPDATE
    )
    RETURNING pk`.execute(db);
  return rows.length > 0;
}

/**
 * A poll imported our send as someone else's message before we matched it (the import row
 * is still pending): take the sid back for the send, and drop the import.
 */
export async function claimFromImport(db: Kysely<any>, integration: ServiceIntegration, sid: string): Promise<boolean> {
  const TABLE = sql.table(integration.service_name);
  const { rows } = await sql`
    UPDATE ${TABLE} SET delivery_status = 'skipped', delivery_error_message = 'our own send, matched after it was polled', row_updated_at = now()
    WHERE integration_id = ${integration.id} AND signalwire_sid = ${sid} AND front_message_id IS NULL
      AND direction = 'outbound' AND delivery_status = 'pending' AND NOT data ? 'notice'
    RETURNING pk`.execute(db);
  return rows.length > 0;
}
