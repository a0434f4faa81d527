/**
 * The one definition of the `channel_messages` view (docs/sql.md): every message of every
 * Front channel in one shape, Switchboard's own notices left out, with the status the
 * channel's transport reports for it (`transport_status`: SignalWire's for an SMS), so
 * readers need not know which provider table holds it. A migration that changes the view
 * calls `channelMessagesView()`; the channels' tables are listed here, and nowhere else.
 */
import { sql, type RawBuilder } from 'kysely';

/** One channel's part of the view: its table, its label, where a client came in, and its transport's status. */
interface ChannelView {
  table: string;
  channel: string;
  /** SQL for `entry`, over the channel row `m` and `joins`. */
  entry: string;
  joins?: string;
  /** SQL for the transport's status of the row's message, over `m` (a scalar subquery: left out when not read). */
  transportStatus: string;
}

/** The SMS transport's status: SignalWire's for the row's sid, in the integration the channel depends on. */
const SMS_STATUS = `(SELECT s.status FROM service_integrations i
                     JOIN signalwire_message_v1 s ON s.integration_id = i.depends_on AND s.signalwire_id = m.signalwire_sid
                     WHERE i.id = m.integration_id)`;

export const CHANNEL_VIEWS: readonly ChannelView[] = [
  { table: 'front_signalwire_message_channel_app_v1', channel: 'sms', entry: `'sms'`, transportStatus: SMS_STATUS },
  {
    table: 'front_ussd_channel_app_v1',
    channel: 'ussd',
    entry: `'ussd:' || COALESCE(r.turn->>'serviceCode', r.gateway, '?')`,
    joins: 'LEFT JOIN ussd_request_v1 r ON r.pk = m.ussd_request_id',
    transportStatus: SMS_STATUS,
  },
];

/** `CREATE OR REPLACE VIEW channel_messages` over `views` (columns only ever added at the end). */
export function channelMessagesView(views: readonly ChannelView[] = CHANNEL_VIEWS): RawBuilder<unknown> {
  const parts = views.map(
    (view) => `
      SELECT '${view.channel}'::text AS channel, (${view.entry})::text AS entry, m.integration_id, m.pk, m.external_id,
             m.external_conversation_id AS conversation_id, m.direction, m.body, m.sender, m.recipient,
             m.delivery_status, m.delivery_error_code, m.delivery_error_message,
             m.front_message_id, m.signalwire_sid, m.row_created_at AS created_at, m.delivered_at,
             ${view.transportStatus}::text AS transport_status
      FROM ${view.table} m
      ${view.joins ?? ''}
      WHERE NOT m.data ? 'notice'`,
  );
  return sql.raw(`CREATE OR REPLACE VIEW channel_messages AS ${parts.join('\n      UNION ALL')}`);
}
