/**
 * The safety net under the flow's webhooks: RapidPro's webhooks time out after 15 s and
 * (upstream, since mailroom v10.3.0) are never retried, so a client message can miss
 * Switchboard. Each pass reads every open handoff's contact's incoming messages since the
 * handoff's cursor (`poll_after`, first the handoff's opening minus CLOCK_SLACK), at most once
 * a minute per handoff, and stores
 * those the webhook path did not: as `chat` rows, which the Front channel imports like any
 * other. A message is the webhook's when it has the same key (the bot sent `@input.uuid` as
 * message_id) or, sent without id — or polled from Weni, whose messages have no uuid — the
 * same session and text near the same time. Within the
 * budget (budget.ts); a 429 stops polling until its Retry-After.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { ServiceIntegration } from '../../db/schema.ts';
import { ingestRows } from '../../engine/ingest.ts';
import type { BackfillContext } from '../../engine/replicator.ts';
import { messageKey, type RapidProMessage } from '../../providers/rapidpro/client.ts';
import { mayPoll, rapidProClient } from './budget.ts';
import { conversationIdOf, lockSession, type Handoff } from './handoffs.ts';

/** RapidPro stamps a message before its webhook reaches us, and clocks differ. */
const CLOCK_SLACK_S = 60;
/** A message sent without id is the webhook's when one with its text came this close in time. */
const SAME_MESSAGE_WINDOW_S = 600;
const MAX_PAGES = 20;
/** Passes also run on every stored request: one handoff is read at most this often. */
export const POLL_INTERVAL_S = 60;

export async function pollHandoffs(ctx: BackfillContext, integration: ServiceIntegration): Promise<void> {
  const { rows: open } = await sql<Handoff & { poll_after: Date | null }>`
    SELECT * FROM chatbot_handoffs WHERE integration_id = ${integration.id} AND status = 'open'
      AND (polled_at IS NULL OR polled_at < now() - make_interval(secs => ${POLL_INTERVAL_S}))
    ORDER BY polled_at NULLS FIRST, opened_at`.execute(ctx.db);
  await ctx.progress(0, open.length);
  const client = rapidProClient(integration, ctx.db);
  for (const handoff of open) {
    if (ctx.signal.aborted || !(await mayPoll(ctx.db, integration))) return;
    const after = handoff.poll_after ?? new Date(handoff.opened_at.getTime() - CLOCK_SLACK_S * 1000);
    const incoming = await client.contactMessages(handoff.contact, after, 'in', { maxPages: MAX_PAGES, more: () => mayPoll(ctx.db, integration) });
    // Throttled or down: the budget table holds any Retry-After; the next pass goes on.
    if (!incoming) {
      ctx.log.info('RapidPro polling postponed');
      return;
    }
    // Oldest first, so Front gets them in order.
    incoming.sort((a, b) => Date.parse(a.created_on) - Date.parse(b.created_on) || a.id - b.id);
    for (const message of incoming) await storeMissed(ctx, integration, handoff, message);
    const newest = incoming.at(-1);
    await sql`
      UPDATE chatbot_handoffs SET polled_at = now(), poll_after = GREATEST(poll_after, ${newest ? new Date(newest.created_on) : null}::timestamptz)
      WHERE integration_id = ${integration.id} AND chat_session = ${handoff.chat_session} AND handoff = ${handoff.handoff}`.execute(ctx.db);
    await ctx.progress(1);
  }
}

async function storeMissed(ctx: BackfillContext, integration: ServiceIntegration, handoff: Handoff, message: RapidProMessage): Promise<void> {
  const session = handoff.chat_session;
  const key = `chat:${session}:${messageKey(message)}`;
  const bodyHash = createHash('sha256').update(message.text).digest('hex');
  const at = new Date(message.created_on);
  await ctx.db.transaction().execute(async (trx) => {
    await lockSession(trx, integration.id, session);
    const { rows: known } = await sql`
      SELECT 1 FROM chatbot_handoff_v1 WHERE integration_id = ${integration.id} AND (
        request_key = ${key}
        -- Weni's messages have no uuid, so a webhook's @input.uuid cannot match them: any id goes
        OR (kind = 'chat' AND chat_session = ${session} AND body_hash = ${bodyHash} AND (message_id IS NULL OR ${message.uuid === undefined})
            AND row_created_at BETWEEN ${at}::timestamptz - make_interval(secs => ${SAME_MESSAGE_WINDOW_S}) AND ${at}::timestamptz + make_interval(secs => ${SAME_MESSAGE_WINDOW_S})))
      LIMIT 1`.execute(trx);
    if (known.length > 0) return;
    const { rows: still } = await sql`
      UPDATE chatbot_handoffs SET last_message_at = GREATEST(last_message_at, ${at}::timestamptz)
      WHERE integration_id = ${integration.id} AND chat_session = ${session} AND handoff = ${handoff.handoff} AND status = 'open'
      RETURNING 1`.execute(trx);
    // Closed meanwhile: what the client wrote after the close is the bot's again.
    if (still.length === 0) return;
    ctx.log.info({ handoff: handoff.handoff }, 'client message recovered by polling');
    const columns = { kind: 'chat', chat_session: session, handoff: handoff.handoff, message_id: messageKey(message), contact: handoff.contact, pseudonym: handoff.pseudonym, body: message.text, body_hash: bodyHash };
    // The answer its webhook would have had, for that webhook if it comes late after all.
    const answer = { status: 'received', chat_session: session, handoff: handoff.handoff, conversation_id: conversationIdOf(session, handoff.handoff), message_id: messageKey(message), opened: false };
    const row = { key, columns: { ...columns, response_status: 200, response_body: JSON.stringify(answer) }, data: { source: 'poll', rapidpro_message: message } };
    await ingestRows(ctx.engine, integration, [row], { origin: 'backfill', db: trx });
  });
}
