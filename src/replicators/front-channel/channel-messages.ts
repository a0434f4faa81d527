/**
 * The one definition of the `channel_messages` view (docs/sql.md): every message of every
 * Front channel in one shape, Switchboard's own notices left out, with the status the
 * channel's transport reports for it (`transport_status`: SignalWire's for an SMS, the
 * latest receipt for a WhatsApp message, RapidPro's for a chatbot reply), the provider's id
 * of it (`provider_message_id`: the sid, the wamid, the RapidPro message) and a
 * reply the carrier failed as `carrier_failed` (carrier.ts), so readers need not know
 * which provider table holds it. A migration that changes the view
 * calls `channelMessagesView()`; the channels' tables are listed here, and nowhere else.
 */
import { sql, type RawBuilder } from 'kysely';
import { RAPIDPRO_RECORD } from '../front-chatbot-channel-app-v1/transport.ts';
import { carrierFailed, SMS_RECORD, WHATSAPP_RECORD, type CarrierRecord } from './carrier.ts';

/** One channel's part of the view: its table, its label, where a client came in, and its transport's record. */
interface ChannelView {
  table: string;
  channel: string;
  /** SQL for `entry`, over the channel row `m` and `joins`. */
  entry: string;
  joins?: string;
  /** The transport's record of the row's message: its status, and whether the carrier failed it. */
  record: CarrierRecord;
  /** The column of the provider's id of the message (default signalwire_sid). */
  counterpart?: string;
}

export const CHANNEL_VIEWS: readonly ChannelView[] = [
  { table: 'front_signalwire_message_channel_app_v1', channel: 'sms', entry: `'sms'`, record: SMS_RECORD },
  {
    table: 'front_ussd_channel_app_v1',
    channel: 'ussd',
    // A counsellor's reply came in through no service code: it shows its channel.
    entry: `CASE WHEN r.pk IS NULL THEN 'ussd' ELSE 'ussd:' || COALESCE(r.turn->>'serviceCode', r.gateway, '?') END`,
    joins: 'LEFT JOIN ussd_request_v1 r ON r.pk = m.ussd_request_id',
    record: SMS_RECORD,
  },
  { table: 'front_whatsapp_channel_app_v1', channel: 'whatsapp', entry: `'whatsapp'`, record: WHATSAPP_RECORD, counterpart: 'whatsapp_wamid' },
  { table: 'front_chatbot_channel_app_v1', channel: 'chatbot', entry: `'chatbot'`, record: RAPIDPRO_RECORD, counterpart: 'rapidpro_message_uuid' },
];

/** The views before the chatbot channel's table existed (migration 0901 built the view then). */
export const VIEWS_BEFORE_CHATBOT = CHANNEL_VIEWS.filter((view) => view.channel !== 'chatbot');

/** The views before the WhatsApp channel's table existed (the migrations that built the view then). */
export const VIEWS_BEFORE_WHATSAPP = VIEWS_BEFORE_CHATBOT.filter((view) => view.channel !== 'whatsapp');

/** `CREATE OR REPLACE VIEW channel_messages` over `views` (columns only ever added at the end). */
export function channelMessagesView(views: readonly ChannelView[] = CHANNEL_VIEWS): RawBuilder<unknown> {
  const parts = views.map((view) => {
    // A reply the carrier failed reads as `carrier_failed`, with the carrier's code and message.
    const failed = carrierFailed(view.record, 'm', 't');
    return `
      SELECT '${view.channel}'::text AS channel, (${view.entry})::text AS entry, m.integration_id, m.pk, m.external_id,
             m.external_conversation_id AS conversation_id, m.direction, m.body, m.sender, m.recipient,
             CASE WHEN ${failed} THEN 'carrier_failed' ELSE m.delivery_status END AS delivery_status,
             CASE WHEN ${failed} THEN t.error_code ELSE m.delivery_error_code END AS delivery_error_code,
             CASE WHEN ${failed} THEN t.error_message ELSE m.delivery_error_message END AS delivery_error_message,
             m.front_message_id, ${view.counterpart ? 'NULL::text' : 'm.signalwire_sid'} AS signalwire_sid, m.row_created_at AS created_at, m.delivered_at,
             t.status::text AS transport_status${views.some((v) => v.counterpart) ? `, m.${view.counterpart ?? 'signalwire_sid'} AS provider_message_id` : ''}
      FROM ${view.table} m
      ${view.joins ?? ''}
      LEFT JOIN LATERAL (${view.record.query('m')}) t ON true
      WHERE NOT m.data ? 'notice'`;
  });
  return sql.raw(`CREATE OR REPLACE VIEW channel_messages AS ${parts.join('\n      UNION ALL')}`);
}
