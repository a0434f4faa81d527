/**
 * Rows of the SMS channel made in bulk with one `INSERT ... SELECT generate_series`:
 * counsellor replies to send (pending, shaped as Front `message` requests make them) or
 * already delivered, for the drain and scale measurements.
 */
import { sql } from 'kysely';
import { DEMO_SUPPORT } from '../../src/demo/environment.ts';
import { CUSTOMER } from './payloads.ts';
import type { System } from './system.ts';

/** The SMS channel's integration id, connected to a Front channel (its rows can be delivered). */
export async function smsChannelId(system: System): Promise<number> {
  const row = await system.engine.db
    .selectFrom('service_integrations')
    .select('id')
    .where('service_name', '=', 'front_signalwire_message_channel_app_v1')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Real load comes from many clients at once: drain and convergence spread messages over this many. */
export const CLIENTS = 500;

/** The number of the i-th of `clients` clients (client 0 is CUSTOMER). */
export const clientNumber = (i: number, clients: number) => (clients <= 1 ? CUSTOMER : `+1555${String(2222 + (i % clients)).padStart(7, '0')}`);

/** `clients`: how many conversations the replies are spread over (default one: CUSTOMER's). */
export async function seedReplies(system: System, options: { count: number; prefix: string; delivered: boolean; clients?: number }): Promise<void> {
  const integrationId = await smsChannelId(system);
  const clients = Math.max(1, options.clients ?? 1);
  await sql`
    WITH seeded AS (
      SELECT i, CASE WHEN ${clients} = 1 THEN ${CUSTOMER} ELSE '+1555' || lpad((2222 + i % ${clients})::text, 7, '0') END AS client
      FROM generate_series(1, ${options.count}) AS i
    )
    INSERT INTO front_signalwire_message_channel_app_v1
      (integration_id, external_id, front_message_id, signalwire_sid, external_conversation_id, direction, body, sender, recipient,
       delivery_status, delivered_at, data)
    SELECT ${integrationId}, ${options.prefix} || i || '-' || client, ${options.prefix} || i,
           CASE WHEN ${options.delivered} THEN 'SM' || ${options.prefix} || i END, client, 'outbound', 'reply ' || i,
           ${DEMO_SUPPORT}, client, CASE WHEN ${options.delivered} THEN 'delivered' ELSE 'pending' END,
           CASE WHEN ${options.delivered} THEN now() END,
           jsonb_build_object('type', 'message', 'external_id', ${options.prefix} || i || '-' || client)
    FROM seeded`.execute(system.engine.db);
}
