/**
 * The one definition of the `conversation_sessions` view (docs/sql.md): a client's activity
 * split into sessions at 30-minute silences, each with the channel the client came in by.
 * Messages are those of every Front channel (`channel_messages`) and what WhatsApp clients
 * wrote to a flow, which never reaches a Front channel's table (routed_to 'flow', or still
 * undecided; entry 'whatsapp', keyed like Front conversations: '+' and the WhatsApp id).
 * A migration that changes the view calls `conversationSessionsView()`.
 */
import { sql, type RawBuilder } from 'kysely';

export function conversationSessionsView(): RawBuilder<unknown> {
  return sql`
    CREATE OR REPLACE VIEW conversation_sessions AS
      WITH messages AS (
        SELECT conversation_id, created_at, pk, direction, entry FROM channel_messages
        UNION ALL
        SELECT '+' || w."from", COALESCE(w."timestamp", w.row_created_at), w.pk, 'inbound', 'whatsapp'
        FROM whatsapp_message_v1 w
        WHERE w.direction = 'inbound' AND w.routed_to IS DISTINCT FROM 'front' AND w."from" ~ '^[0-9]{5,15}$'
      ), ordered AS (
        SELECT m.*,
               CASE WHEN lag(created_at) OVER w IS NULL OR created_at - lag(created_at) OVER w > interval '30 minutes' THEN 1 ELSE 0 END AS starts
        FROM messages m
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
      GROUP BY conversation_id, session_number`;
}
