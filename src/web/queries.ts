/**
 * What the dashboard shows, read straight from the replicated tables, the SQL views of
 * docs/sql.md and graphile-worker's job view. Every list is bounded; the newest come first.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import { integrationStatus } from '../engine/status.ts';
import { jobCounts, listJobs } from '../jobs/queue.ts';

const PAGE = 100;

export async function overview(engine: Engine) {
  const all = await engine.db.selectFrom('service_integrations').selectAll().orderBy('id').execute();
  const integrations = [];
  for (const integration of all) integrations.push(await integrationStatus(engine, integration, { reasons: 5 }));
  return { integrations, jobs: await jobCounts(engine.db) };
}

export async function conversations(db: Kysely<Database>, filter: { unanswered?: boolean; search?: string }) {
  const { rows } = await sql`
    SELECT conversation_id, channels, first_message_at, last_message_at, inbound_messages::int, outbound_messages::int,
           extract(epoch FROM time_to_first_reply)::float8 AS first_reply_seconds, unanswered,
           (SELECT count(*)::int FROM channel_messages m
             WHERE m.conversation_id = c.conversation_id AND m.delivery_status = 'pending') AS pending,
           (SELECT count(*)::int FROM channel_messages m
             WHERE m.conversation_id = c.conversation_id AND m.delivery_status IN ('failed', 'carrier_failed')) AS failed
    FROM conversations c
    WHERE (${filter.unanswered ?? false} = false OR unanswered)
      AND (${filter.search ?? ''} = '' OR conversation_id LIKE '%' || ${filter.search ?? ''} || '%')
    ORDER BY last_message_at DESC
    LIMIT ${PAGE}`.execute(db);
  return rows;
}

/** One thread across every channel, oldest first, with each message's state and both ids. */
export async function conversationMessages(db: Kysely<Database>, conversationId: string) {
  // The provider's word on a message (SMS sent, delivered, failed…; WhatsApp's receipts) is the view's
  // transport_status, and its id (sid or wamid) provider_message_id; the SMS names stay for SMS rows.
  const { rows } = await sql`
    SELECT m.channel, m.entry, m.pk, m.direction, m.body, m.sender, m.recipient, m.delivery_status AS state,
           m.delivery_error_code AS error_code, m.delivery_error_message AS error_message,
           m.front_message_id, m.signalwire_sid, CASE WHEN m.signalwire_sid IS NOT NULL THEN m.transport_status END AS sms_status,
           m.provider_message_id, m.transport_status, m.created_at, m.delivered_at
    FROM channel_messages m
    WHERE m.conversation_id = ${conversationId}
    ORDER BY m.created_at, m.pk
    LIMIT 1000`.execute(db);
  return rows;
}

export async function jobs(db: Kysely<Database>) {
  return { counts: await jobCounts(db), jobs: await listJobs(db, PAGE) };
}

/** Recent backfill passes: what ran, why, how many rows, how it ended. */
export async function backfillRuns(db: Kysely<Database>) {
  return db
    .selectFrom('backfill_runs')
    .select(['id', 'integration_id', 'status', 'trigger', 'incremental', 'rows_processed', 'started_at', 'finished_at', 'error'])
    .orderBy('id', 'desc')
    .limit(20)
    .execute();
}

export async function webhookLog(db: Kysely<Database>, filter: { rejected?: boolean; before?: number }) {
  let query = db
    .selectFrom('webhook_log')
    .select(['id', 'received_at', 'integration_id', 'route', 'method', 'status', 'reason', 'duration_ms', 'content_type'])
    .orderBy('id', 'desc')
    .limit(PAGE);
  if (filter.rejected) query = query.where('status', '>=', 400);
  if (filter.before) query = query.where('id', '<', filter.before);
  return query.execute();
}
