/**
 * `conversation_sessions` counts what WhatsApp clients wrote to a flow: their messages the
 * flow kept (routed_to 'flow', or still undecided) never reach a Front channel's table, so
 * without them a session that began in a WhatsApp menu would start later, elsewhere, or not
 * at all. They come in with entry 'whatsapp', keyed like Front conversations (E.164: '+' and
 * the WhatsApp id). Messages routed to 'front' are the Front WhatsApp channel's, counted
 * through channel_messages. Same columns as before (docs/sql.md).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
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
      GROUP BY conversation_id, session_number;
  `.execute(db);
}
