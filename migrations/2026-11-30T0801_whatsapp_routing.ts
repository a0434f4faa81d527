/**
 * Where an inbound WhatsApp message goes: 'front' (the Front WhatsApp channel imports it),
 * 'flow' (a flow consumed it), or NULL while undecided (the integration has a flow and its
 * pass has not reached the message yet). The channel imports only rows routed to 'front'.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE whatsapp_message_v1 ADD COLUMN routed_to text CHECK (routed_to IN ('front', 'flow'));
    UPDATE whatsapp_message_v1 SET routed_to = 'front' WHERE direction = 'inbound';
    CREATE INDEX whatsapp_message_v1_undecided_idx ON whatsapp_message_v1 (integration_id, "from", "timestamp")
      WHERE direction = 'inbound' AND routed_to IS NULL;
  `.execute(db);
}
