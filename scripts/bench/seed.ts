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

export async function seedReplies(system: System, options: { count: number; prefix: string; delivered: boolean }): Promise<void> {
  const integrationId = await smsChannelId(system);
  await sql`
    INSERT INTO front_signalwire_message_channel_app_v1
      (integration_id, external_id, front_message_id, signalwire_sid, external_conversation_id, direction, body, sender, recipient,
       delivery_status, delivered_at, data)
    SELECT ${integrationId}, ${options.prefix} || i || '-' || ${CUSTOMER}, ${options.prefix} || i,
           CASE WHEN ${options.delivered} THEN 'SM' || ${options.prefix} || i END, ${CUSTOMER}, 'outbound', 'reply ' || i,
           ${DEMO_SUPPORT}, ${CUSTOMER}, CASE WHEN ${options.delivered} THEN 'delivered' ELSE 'pending' END,
           CASE WHEN ${options.delivered} THEN now() END,
           jsonb_build_object('type', 'message', 'external_id', ${options.prefix} || i || '-' || ${CUSTOMER})
    FROM generate_series(1, ${options.count}) AS i`.execute(system.engine.db);
}
