/**
 * Views for analysts over both Front channels (docs/sql.md): every message in one shape,
 * conversations, a client's activity split into sessions, and delivery failures.
 * A conversation is the client's E.164 number, as in Front.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE VIEW channel_messages AS
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
      LEFT JOIN ussd_request_v1 r ON r.pk = u.ussd_request_id;

    CREATE VIEW conversations AS
      WITH per AS (
        SELECT conversation_id,
               array_agg(DISTINCT channel ORDER BY channel) AS channels,
               min(created_at) AS first_message_at,
               max(created_at) AS last_message_at,
               count(*) FILTER (WHERE direction = 'inbound') AS inbound_messages,
               count(*) FILTER (WHERE direction = 'outbound') AS outbound_messages,
               min(created_at) FILTER (WHERE direction = 'inbound') AS first_inbound_at,
               max(created_at) FILTER (WHERE direction = 'inbound') AS last_inbound_at,
               max(created_at) FILTER (WHERE direction = 'outbound') AS last_outbound_at
        FROM channel_messages
        WHERE conversation_id IS NOT NULL
        GROUP BY conversation_id
      )
      SELECT per.conversation_id, per.channels, per.first_message_at, per.last_message_at,
             per.inbound_messages, per.outbound_messages,
             (SELECT min(m.created_at) FROM channel_messages m
               WHERE m.conversation_id = per.conversation_id AND m.direction = 'outbound' AND m.created_at >= per.first_inbound_at)
               - per.first_inbound_at AS time_to_first_reply,
             per.last_inbound_at IS NOT NULL AND (per.last_outbound_at IS NULL OR per.last_outbound_at < per.last_inbound_at) AS unanswered
      FROM per;

    CREATE VIEW conversation_sessions AS
      WITH ordered AS (
        SELECT m.*,
               CASE WHEN lag(created_at) OVER w IS NULL OR created_at - lag(created_at) OVER w > interval '30 minutes' THEN 1 ELSE 0 END AS starts
        FROM channel_messages m
        WHERE conversation_id IS NOT NULL
        WINDOW w AS (PARTITION BY conversation_id ORDER BY created_at, pk)
      ), numbered AS (
        SELECT ordered.*, sum(starts) OVER (PARTITION BY conversation_id ORDER BY created_at, pk) AS session_number
        FROM ordered
      )
      SELECT conversation_id, session_number,
             min(created_at) AS started_at, max(created_at) AS ended_at,
             -- Like web analytics' landing channel: where the client came in; 'other' when a counsellor wrote first.
             (array_agg(CASE WHEN direction = 'inbound' THEN entry ELSE 'other' END ORDER BY created_at, pk))[1] AS entry,
             count(*) AS messages,
             count(*) FILTER (WHERE direction = 'inbound') AS inbound_messages,
             count(*) FILTER (WHERE direction = 'outbound') AS outbound_messages
      FROM numbered
      GROUP BY conversation_id, session_number;

    CREATE VIEW delivery_failures AS
      SELECT channel, integration_id, pk, conversation_id, direction, delivery_error_code AS error_code,
             delivery_error_message AS error_message, created_at
      FROM channel_messages
      WHERE delivery_status = 'failed';
  `.execute(db);
}
