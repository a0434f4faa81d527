/**
 * The seed's "hunting restarts", in the terms Front offers: a handed-off client whose oldest
 * unanswered message (the first since the last counsellor reply) has waited longer than
 * --unattended-after minutes gets a visible alert in their Front conversation, once per
 * such period of waiting (a row keyed by the message and the period, imported by the pass),
 * and is listed by `status`.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import type { Engine } from '../../engine/engine.ts';
import { ingestRows } from '../../engine/ingest.ts';
import { chatbotSettings } from '../chatbot-handoff-v1/settings.ts';

export interface Unattended {
  conversation_id: string;
  waiting_minutes: number;
  /** The first unanswered message's row, whose wait the alert counts. */
  since_pk: number;
}

export const unattendedAlert = (minutes: number) =>
  `No counsellor has answered this client for ${minutes} minutes. Please pick up this conversation, or assign it to someone who can.`;

/** Open handoffs whose client has waited longer than --unattended-after since their first unanswered message. */
export async function unattended(db: Kysely<Database>, channel: ServiceIntegration): Promise<Unattended[]> {
  const parent = await db.selectFrom('service_integrations').selectAll().where('id', '=', channel.depends_on ?? -1).executeTakeFirst();
  if (!parent) return [];
  const after = chatbotSettings(parent).unattended_after;
  const { rows } = await sql<Unattended>`
    SELECT w.conversation_id, floor(extract(epoch FROM now() - w.since) / 60)::int AS waiting_minutes, w.since_pk
    FROM chatbot_handoffs h
    CROSS JOIN LATERAL (
      SELECT m.external_conversation_id AS conversation_id, m.row_created_at AS since, m.pk AS since_pk
      FROM front_chatbot_channel_app_v1 m
      WHERE m.integration_id = ${channel.id} AND m.external_conversation_id = h.chat_session || '#' || h.handoff
        AND m.direction = 'inbound' AND NOT m.data ? 'notice'
        AND m.pk > COALESCE((SELECT max(r.pk) FROM front_chatbot_channel_app_v1 r
                             WHERE r.integration_id = ${channel.id} AND r.external_conversation_id = m.external_conversation_id AND r.direction = 'outbound'), 0)
      ORDER BY m.pk LIMIT 1
    ) w
    WHERE h.integration_id = ${parent.id} AND h.status = 'open' AND w.since < now() - make_interval(mins => ${after})
    ORDER BY w.since`.execute(db);
  return rows;
}

/** One alert per conversation and period of waiting, imported into Front by the pass. */
export async function raiseAlerts(engine: Engine, channel: ServiceIntegration): Promise<void> {
  const parent = await engine.db.selectFrom('service_integrations').selectAll().where('id', '=', channel.depends_on ?? -1).executeTakeFirst();
  if (!parent) return;
  const after = chatbotSettings(parent).unattended_after;
  const rows = (await unattended(engine.db, channel)).map((waiting) => {
    const period = Math.floor(waiting.waiting_minutes / after);
    const columns = { external_conversation_id: waiting.conversation_id, direction: 'inbound', body: unattendedAlert(period * after), sender: waiting.conversation_id, recipient: channel.opaque_id };
    return { key: `unattended-${waiting.since_pk}-${period}`, columns, data: { ...columns, notice: 'unattended' } };
  });
  if (rows.length > 0) await ingestRows(engine, channel, rows, { origin: 'dependency' });
}
