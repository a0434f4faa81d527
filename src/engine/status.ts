/**
 * How each integration stands, for `switchboard status` and the dashboard: setup state,
 * the convergence gap (engine/convergence.ts), why rows failed, the last backfill pass and
 * error; and the job queue in numbers.
 */
import { sql, type Kysely } from 'kysely';
import type { Config } from '../config.ts';
import type { Database, ServiceIntegration } from '../db/schema.ts';
import { convergenceGap } from './convergence.ts';
import type { Registry } from './registry.ts';
import type { Replicator, SetupState } from './replicator.ts';

interface StatusSource {
  db: Kysely<Database>;
  registry: Registry;
  config: Config;
}

/** Required fields still empty, unless the replicator says better. */
export function setupState(replicator: Replicator, integration: ServiceIntegration, config: Config): SetupState {
  if (replicator.setupState) return replicator.setupState(integration, config);
  const missing = (replicator.fields ?? []).filter((field) => {
    if (!field.required) return false;
    const value = 'column' in field.target ? integration[field.target.column] : integration.settings[field.target.setting];
    return value === null || value === undefined || value === '';
  });
  return missing.length === 0
    ? { ready: true, detail: 'configured' }
    : { ready: false, detail: `missing ${missing.map((f) => `--${f.flag}`).join(', ')}: set with \`switchboard integrations update ${integration.id}\`` };
}

/** Failed rows grouped by reason, most frequent first. */
async function failureReasons(db: Kysely<any>, replicator: Replicator, integrationId: number, limit: number) {
  if (!replicator.failedWhere || !replicator.failedReason) return [];
  const { rows } = await sql<{ reason: string; rows: number; last_at: Date }>`
    SELECT ${sql.raw(replicator.failedReason)} AS reason, count(*)::int AS rows, max(row_updated_at) AS last_at
    FROM ${sql.table(replicator.name)}
    WHERE integration_id = ${integrationId} AND (${sql.raw(replicator.failedWhere)})
    GROUP BY 1 ORDER BY 2 DESC, 3 DESC LIMIT ${limit}`.execute(db);
  return rows;
}

/**
 * The integration's last error, where to show it and how to fix it. When the integration it
 * depends on failed with the same code, the fault is there (a channel's send rejected with
 * the provider integration's token): `shown_on` names that one, so the failure is shown once,
 * on the card of the integration that needs the fix.
 */
async function lastError(db: Kysely<Database>, registry: Registry, integration: ServiceIntegration) {
  if (!integration.last_error_code) return null;
  const parent = integration.depends_on
    ? await db.selectFrom('service_integrations').selectAll().where('id', '=', integration.depends_on).executeTakeFirst()
    : undefined;
  const shownOn = parent && parent.last_error_code === integration.last_error_code ? parent.id : integration.id;
  const provider = integration.last_error_code.startsWith('SB_ERR_PROVIDER_') && registry.has(integration.service_name) ? registry.get(integration.service_name) : null;
  return {
    code: integration.last_error_code,
    message: integration.last_error_message,
    at: integration.last_error_at,
    fix: provider?.providerFix?.(integration) ?? null,
    shown_on: shownOn,
  };
}

export async function integrationStatus(source: StatusSource, integration: ServiceIntegration, options: { reasons?: number } = {}) {
  const { db, registry, config } = source;
  const replicator = registry.has(integration.service_name) ? registry.get(integration.service_name) : null;
  const gap = replicator ? await convergenceGap(db, replicator, integration.id) : null;
  const lastRun = await db
    .selectFrom('backfill_runs')
    .select(['id', 'status', 'trigger', 'rows_processed', 'started_at', 'finished_at', 'error'])
    .where('integration_id', '=', integration.id)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return {
    id: integration.id,
    opaque_id: integration.opaque_id,
    service: integration.service_name,
    depends_on: integration.depends_on,
    setup: replicator ? setupState(replicator, integration, config) : { ready: false, detail: `unknown service ${integration.service_name}` },
    rows: gap?.rows ?? null,
    pending: gap?.pending ?? null,
    failed: gap?.failed ?? null,
    oldest_pending_seconds: gap?.oldestPendingSeconds ?? null,
    failure_reasons: replicator && options.reasons ? await failureReasons(db, replicator, integration.id, options.reasons) : [],
    last_backfilled_at: integration.last_backfilled_at,
    last_backfill: lastRun ?? null,
    error: await lastError(db, registry, integration),
    ...(replicator?.statusDetails ? { details: await replicator.statusDetails(integration, db) } : {}),
  };
}

export type IntegrationStatus = Awaited<ReturnType<typeof integrationStatus>>;
