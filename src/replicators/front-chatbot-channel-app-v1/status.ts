/**
 * Tracking counsellors' replies after RapidPro took them: a pass reads the RapidPro status
 * of replies not final yet (one `GET messages.json` per contact, since the oldest such
 * send), records it, and for a reply that failed stores one notice row, imported into the
 * Front conversation by the next pass so the counsellor knows.
 *
 * Reads are spent like polling's (budget.ts): each reply at most once per CHECK_EVERY_S,
 * the least recently checked first, for TRACK_FOR_H after its send — many channels never
 * report past `sent`, and reading those forever would eat the workspace's budget (and with
 * it the polling that recovers lost client messages).
 */
import { sql } from 'kysely';
import type { ServiceIntegration } from '../../db/schema.ts';
import { ingestRows } from '../../engine/ingest.ts';
import type { BackfillContext } from '../../engine/replicator.ts';
import { messageKey } from '../../providers/rapidpro/client.ts';
import { mayPoll, rapidProClient } from '../chatbot-handoff-v1/budget.ts';
import { requestBackfill } from '../../engine/backfill-queue.ts';

export const FINAL_STATUSES = ['delivered', 'read', 'failed'] as const;
const TABLE = sql.table('front_chatbot_channel_app_v1');
export const CHECK_EVERY_S = 60;
export const TRACK_FOR_H = 24;

/** Said in the conversation when RapidPro gives up on a reply. */
export const failedNotice = (body: string | null) => `Not delivered: RapidPro could not deliver this reply to the client.\n${body ?? ''}`;

interface Tracked {
  pk: number;
  external_id: string;
  external_conversation_id: string;
  rapidpro_message_uuid: string;
  body: string | null;
  contact: string;
  since: Date;
}

export async function trackReplies(ctx: BackfillContext, integration: ServiceIntegration): Promise<void> {
  const parent = await ctx.db.selectFrom('service_integrations').selectAll().where('id', '=', integration.depends_on ?? -1).executeTakeFirst();
  if (!parent) return;
  const { rows } = await sql<Tracked>`
    SELECT m.pk, m.external_id, m.external_conversation_id, m.rapidpro_message_uuid, m.body, h.contact, COALESCE(m.send_started_at, m.row_created_at) AS since
    FROM ${TABLE} m
    JOIN chatbot_handoffs h ON h.integration_id = ${parent.id} AND h.chat_session || '#' || h.handoff = m.external_conversation_id
    WHERE m.integration_id = ${integration.id} AND m.direction = 'outbound' AND m.delivery_status = 'delivered' AND NOT m.data ? 'notice'
      AND (m.rapidpro_status IS NULL OR m.rapidpro_status NOT IN ('delivered', 'read', 'failed'))
      AND (m.rapidpro_checked_at IS NULL OR m.rapidpro_checked_at < now() - make_interval(secs => ${CHECK_EVERY_S}))
      AND COALESCE(m.send_started_at, m.row_created_at) > now() - make_interval(hours => ${TRACK_FOR_H})
    ORDER BY m.rapidpro_checked_at NULLS FIRST, m.pk LIMIT 500`.execute(ctx.db);
  const byContact = new Map<string, Tracked[]>();
  for (const row of rows) byContact.set(row.contact, [...(byContact.get(row.contact) ?? []), row]);
  const client = rapidProClient(parent, ctx.db);
  for (const [contact, tracked] of byContact) {
    if (ctx.signal.aborted || !(await mayPoll(ctx.db, parent))) return;
    const sent = await client.contactMessages(contact, new Date(Math.min(...tracked.map((t) => t.since.getTime())) - 60_000), 'out', { maxPages: 10 });
    // Rate-limited or down: the next pass asks again; replies and imports are not held up by it.
    if (!sent) {
      ctx.log.info('RapidPro status check postponed');
      return;
    }
    await sql`UPDATE ${TABLE} SET rapidpro_checked_at = now() WHERE pk = ANY(${tracked.map((t) => t.pk)}::bigint[])`.execute(ctx.db);
    const statuses = new Map(sent.map((message) => [messageKey(message), message.status]));
    for (const row of tracked) {
      const status = statuses.get(row.rapidpro_message_uuid);
      if (!status) continue;
      await ctx.db.transaction().execute(async (trx) => {
        await sql`UPDATE ${TABLE} SET rapidpro_status = ${status}, rapidpro_checked_at = now(), row_updated_at = now() WHERE pk = ${row.pk}`.execute(trx);
        if (status !== 'failed') return;
        const columns = {
          external_conversation_id: row.external_conversation_id,
          direction: 'inbound',
          body: failedNotice(row.body),
          sender: row.external_conversation_id,
          recipient: null,
        };
        // Keyed by the failed message: however often it is seen failing, one notice.
        await ingestRows(ctx.engine, integration, [{ key: `failed-${row.rapidpro_message_uuid}`, columns, data: { notice: 'rapidpro_failed', reply_external_id: row.external_id, ...columns } }], {
          origin: 'dependency',
          db: trx,
        });
      });
    }
  }
}

/** Ask for a pass of the handoff integration when a message in Front still owes the bot platform its acknowledgement (acks.ts). */
export async function requestAcks(ctx: BackfillContext, integration: ServiceIntegration): Promise<void> {
  const parent = integration.depends_on;
  if (parent === null) return;
  const { rows } = await sql`
    SELECT 1 FROM chatbot_handoff_v1 h
    JOIN ${TABLE} c ON c.integration_id = ${integration.id} AND c.external_id = h.request_key AND c.delivery_status = 'delivered'
    JOIN service_integrations p ON p.id = h.integration_id AND p.settings ? 'ack_url'
    WHERE h.integration_id = ${parent} AND h.kind = 'chat' AND h.helpline_ack_at IS NULL AND h.helpline_ack_error IS NULL
    LIMIT 1`.execute(ctx.db);
  if (rows.length > 0) await requestBackfill(ctx.db, parent, { incremental: true, trigger: 'acknowledgements' });
}
