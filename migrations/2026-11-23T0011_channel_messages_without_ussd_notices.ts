/**
 * `channel_messages` leaves out the USSD channel's notices too (a note posted into Front
 * when a reply cannot go by SMS), as it already did the SMS channel's failure notices: they
 * are Switchboard's words, not the client's, and must not count as messages or answers.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE OR REPLACE VIEW channel_messages AS
      SELECT 'sms'::text AS channel, 'sms'::text AS entry, m.integration_id, m.pk, m.external_id,
             m.external_conversation_id AS conversation_id, m.direction, m.body, m.sender, m.recipient,
             m.delivery_status, m.delivery_error_code, m.delivery_error_message,
             m.front_message_id, m.signalwire_sid, m.row_created_at AS created_at, m.delivered_at
      FROM front_signalwire_message_channel_app_v1 m
      WHERE NOT m.data ? 'notice'
      UNION ALL
      SELECT 'ussd', 'ussd:' || COALESCE(r.turn->>'serviceCode', r.gateway, '?'), u.integration_id, u.pk, u.external_id,
             u.external_conversation_id, u.direction, u.body, u.sender, u.recipient,
             u.delivery_status, u.delivery_error_code, u.delivery_error_message,
             u.front_message_id, u.signalwire_sid, u.row_created_at, u.delivered_at
      FROM front_ussd_channel_app_v1 u
      LEFT JOIN ussd_request_v1 r ON r.pk = u.ussd_request_id
      WHERE NOT u.data ? 'notice'
  `.execute(db);
}
