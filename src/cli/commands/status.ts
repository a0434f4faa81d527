/**
 * `switchboard status`: the convergence gap per integration (engine/convergence.ts: rows,
 * pending and failed rows, age of the oldest pending), last pass and error, and the job queue.
 */
import type { Command } from 'commander';
import { sql } from 'kysely';
import type { ServiceIntegration } from '../../db/schema.ts';
import { convergenceGap } from '../../engine/convergence.ts';
import type { Runtime } from '../../runtime.ts';
import { withRuntime, writeJson, writeLine, type CliContext } from '../context.ts';
import { formatAge, formatTable } from '../table.ts';

export async function integrationStatus(rt: Runtime, integration: ServiceIntegration) {
  const { db, registry } = rt.engine;
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
    rows: gap?.rows ?? null,
    pending: gap?.pending ?? null,
    failed: gap?.failed ?? null,
    oldest_pending_seconds: gap?.oldestPendingSeconds ?? null,
    last_backfilled_at: integration.last_backfilled_at,
    last_backfill: lastRun ?? null,
    error: integration.last_error_code
      ? { code: integration.last_error_code, message: integration.last_error_message, at: integration.last_error_at }
      : null,
  };
}

export async function jobCounts(rt: Runtime) {
  const { rows } = await sql<{ queued: number; running: number; failed: number }>`
    SELECT
      count(*) FILTER (WHERE locked_at IS NULL AND attempts < max_attempts)::int AS queued,
      count(*) FILTER (WHERE locked_at IS NOT NULL)::int AS running,
      count(*) FILTER (WHERE attempts >= max_attempts)::int AS failed
    FROM graphile_worker.jobs`.execute(rt.engine.db);
  return rows[0] ?? { queued: 0, running: 0, failed: 0 };
}

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('per integration: rows, pending rows, oldest pending age, last backfill, errors; and the job queue')
    .option('--json', 'print machine-readable JSON')
    .action(async (options: { json?: boolean }) => {
      await withRuntime(ctx, async (rt) => {
        const all = await rt.engine.db.selectFrom('service_integrations').selectAll().orderBy('id').execute();
        const integrations = [];
        for (const integration of all) integrations.push(await integrationStatus(rt, integration));
        const jobs = await jobCounts(rt);
        if (options.json) return writeJson(ctx, { integrations, jobs });
        if (integrations.length === 0) writeLine(ctx, 'No integrations yet.');
        else {
          writeLine(
            ctx,
            formatTable(
              ['id', 'service', 'rows', 'pending', 'failed', 'oldest pending', 'last backfill', 'error'],
              integrations.map((s) => [
                s.id,
                s.service,
                s.rows,
                s.pending ?? '-',
                s.failed ?? '-',
                formatAge(s.oldest_pending_seconds),
                s.last_backfill ? `${s.last_backfill.status} ${formatCellDate(s.last_backfill.finished_at ?? s.last_backfill.started_at)}` : 'never',
                s.error ? `${s.error.code}: ${s.error.message}` : '',
              ]),
            ),
          );
        }
        writeLine(ctx, `\njobs: ${jobs.queued} queued, ${jobs.running} running, ${jobs.failed} failed`);
      });
    });
}

const formatCellDate = (date: Date) => date.toISOString().replace('T', ' ').slice(0, 19);
