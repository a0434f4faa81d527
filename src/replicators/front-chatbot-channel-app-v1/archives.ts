/**
 * The fallback for a missed archive event (issue 17): Front's application events can be lost
 * (a 5 s answer limit, few retries, a webhook switched off), so the channel's passes read the
 * status of open handoffs' Front conversations (`GET /conversations/{id}` with the channel's
 * JWT) and end those archived (or deleted) as the event would have (events.ts). Within a
 * budget, since Front's rate limit is the whole company's: a handoff is checked at most once
 * per ARCHIVE_CHECK_INTERVAL_S, at most ARCHIVE_CHECK_BATCH per pass, and only once one of its
 * messages is in Front. The conversation id is learned once, from that message
 * (`GET /messages/alt:uid:…`).
 */
import { sql } from 'kysely';
import type { ServiceIntegration } from '../../db/schema.ts';
import { messageForLog } from '../../engine/errors.ts';
import type { BackfillContext } from '../../engine/replicator.ts';
import { FrontChannelClient } from '../../providers/front/client.ts';
import { ProviderHttpError } from '../../providers/http.ts';
import { endArchived } from './events.ts';

export const ARCHIVE_CHECK_INTERVAL_S = 300;
export const ARCHIVE_CHECK_BATCH = 25;
/** Conversation statuses that end a handoff: archived, or moved to the trash. */
const ENDED = new Set(['archived', 'deleted']);

interface Due {
  chat_session: string;
  handoff: number;
  front_conversation_id: string | null;
  /** One of the handoff's messages as Front answered its import (`uid_…`, or `msg_…` from its notice). */
  message: string | null;
}

export async function checkArchives(ctx: BackfillContext, integration: ServiceIntegration): Promise<void> {
  const channelId = integration.backfill_key;
  if (!channelId || integration.depends_on === null) return;
  const parent = (await ctx.db.selectFrom('service_integrations').selectAll().where('id', '=', integration.depends_on).executeTakeFirst()) as ServiceIntegration | undefined;
  if (!parent) return;
  const { rows } = await sql<Due>`
    SELECT h.chat_session, h.handoff, h.front_conversation_id, m.front_message_id AS message
    FROM chatbot_handoffs h
    LEFT JOIN LATERAL (
      SELECT c.front_message_id FROM front_chatbot_channel_app_v1 c
      WHERE c.integration_id = ${integration.id} AND c.external_conversation_id = h.chat_session || '#' || h.handoff
        AND c.direction = 'inbound' AND c.delivery_status = 'delivered' AND left(c.front_message_id, 4) IN ('uid_', 'msg_')
      ORDER BY c.pk LIMIT 1) m ON true
    WHERE h.integration_id = ${parent.id} AND h.status = 'open'
      AND (h.front_conversation_id IS NOT NULL OR m.front_message_id IS NOT NULL)
      AND (h.front_checked_at IS NULL OR h.front_checked_at < now() - make_interval(secs => ${ARCHIVE_CHECK_INTERVAL_S}))
    ORDER BY h.front_checked_at NULLS FIRST, h.opened_at
    LIMIT ${ARCHIVE_CHECK_BATCH}`.execute(ctx.db);
  const front = new FrontChannelClient(ctx.config.front);
  for (const due of rows) {
    if (ctx.signal.aborted) return;
    let conversation = due.front_conversation_id;
    let status: string | null = null;
    try {
      conversation ??= await front.conversationOfMessage(channelId, due.message!);
      if (conversation) status = await front.conversationStatus(channelId, conversation);
    } catch (error) {
      // Front is throttling or down: the next pass goes on.
      if (error instanceof ProviderHttpError && error.retryable) {
        ctx.log.info({ err: messageForLog(error) }, 'archive checks postponed');
        return;
      }
      if (!(error instanceof ProviderHttpError)) throw error;
      // Refused (the channel's JWT may not read it): the event remains, and the session timeout.
      ctx.log.warn({ err: messageForLog(error) }, 'the conversation status could not be read');
    }
    await sql`
      UPDATE chatbot_handoffs SET front_checked_at = now(), front_conversation_id = COALESCE(front_conversation_id, ${conversation})
      WHERE integration_id = ${parent.id} AND chat_session = ${due.chat_session} AND handoff = ${due.handoff}`.execute(ctx.db);
    if (status && ENDED.has(status) && (await endArchived(ctx.engine, parent, due.chat_session, due.handoff, { front_conversation_id: conversation, learned_by: 'polling' }))) {
      ctx.log.info({ handoff: due.handoff }, 'handoff ended in Front (learned by polling)');
    }
  }
}
