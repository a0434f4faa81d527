/**
 * The RapidPro request budget of a chatbot handoff integration. RapidPro limits a workspace
 * (2,500–3,600 requests an hour, shared by everything using its token) and answers 429 with
 * Retry-After beyond it. Every request our code makes is counted here per minute; polling
 * stops at POLL_SHARE of --rapidpro-budget-per-hour (sends and status checks keep the rest)
 * and while a Retry-After runs. `status` shows the last hour.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../../db/schema.ts';
import { RapidProClient } from '../../providers/rapidpro/client.ts';
import { SwitchboardError } from '../../engine/errors.ts';
import { chatbotSettings } from './settings.ts';

/** The part of the hourly budget polling may use. */
export const POLL_SHARE = 0.8;

export interface Usage {
  requests_last_hour: number;
  throttled_last_hour: number;
  budget_per_hour: number;
  /** RapidPro asked us to wait until then (Retry-After). */
  blocked_until: Date | null;
}

export async function recordRequest(db: Kysely<Database>, integrationId: number, answer: { status: number | null; retryAfterMs: number | null }): Promise<void> {
  const throttled = answer.status === 429 ? 1 : 0;
  const until = throttled ? new Date(Date.now() + (answer.retryAfterMs ?? 60_000)) : null;
  await sql`
    INSERT INTO chatbot_rapidpro_usage AS u (integration_id, minute, requests, throttled, blocked_until)
    VALUES (${integrationId}, date_trunc('minute', now()), 1, ${throttled}, ${until})
    ON CONFLICT (integration_id, minute) DO UPDATE SET
      requests = u.requests + 1, throttled = u.throttled + EXCLUDED.throttled,
      blocked_until = GREATEST(u.blocked_until, EXCLUDED.blocked_until)`.execute(db);
}

export async function usageOf(db: Kysely<Database>, integration: ServiceIntegration): Promise<Usage> {
  const { rows } = await sql<{ requests: number; throttled: number; blocked_until: Date | null }>`
    SELECT COALESCE(sum(requests), 0)::int AS requests, COALESCE(sum(throttled), 0)::int AS throttled,
           max(blocked_until) FILTER (WHERE blocked_until > now()) AS blocked_until
    FROM chatbot_rapidpro_usage WHERE integration_id = ${integration.id} AND minute > now() - interval '1 hour'`.execute(db);
  const row = rows[0]!;
  return { requests_last_hour: row.requests, throttled_last_hour: row.throttled, budget_per_hour: chatbotSettings(integration).rapidpro_budget_per_hour, blocked_until: row.blocked_until };
}

/** Whether polling may make another request now. */
export async function mayPoll(db: Kysely<Database>, integration: ServiceIntegration): Promise<boolean> {
  const usage = await usageOf(db, integration);
  return usage.blocked_until === null && usage.requests_last_hour < usage.budget_per_hour * POLL_SHARE;
}

/** A client for the integration's workspace whose every answer is counted (with `db`: the pool, not a transaction that may roll back). */
export function rapidProClient(integration: ServiceIntegration, db: Kysely<Database>): RapidProClient {
  if (!integration.api_url || !integration.backfill_secret) throw new SwitchboardError('SB_ERR_NOT_CONNECTED', 'the chatbot handoff integration has no RapidPro URL or token');
  return new RapidProClient(integration.api_url, integration.backfill_secret, (answer) => recordRequest(db, integration.id, answer));
}
