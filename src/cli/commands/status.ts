/**
 * `switchboard status`: the convergence gap per integration (engine/convergence.ts: rows,
 * pending and failed rows, age of the oldest pending), last pass and error, and the job queue.
 */
import type { Command } from 'commander';
import { withRuntime, writeJson, writeLine, type CliContext } from '../context.ts';
import { formatAge, formatTable } from '../table.ts';

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('per integration: rows, pending rows, oldest pending age, last backfill, errors; and the job queue')
    .option('--json', 'print machine-readable JSON')
    .action(async (options: { json?: boolean }) => {
      const [{ integrationStatus }, { jobCounts }] = await Promise.all([import('../../engine/status.ts'), import('../../jobs/queue.ts')]);
      await withRuntime(ctx, async (rt) => {
        const all = await rt.engine.db.selectFrom('service_integrations').selectAll().orderBy('id').execute();
        const integrations = [];
        for (const integration of all) integrations.push(await integrationStatus(rt.engine, integration));
        const jobs = await jobCounts(rt.engine.db);
        if (options.json) return writeJson(ctx, { integrations, jobs });
        if (integrations.length === 0) writeLine(ctx, 'No integrations yet.');
        else {
          writeLine(
            ctx,
            formatTable(
              ['id', 'service', 'setup', 'rows', 'pending', 'failed', 'oldest pending', 'last backfill', 'error'],
              integrations.map((s) => [
                s.id,
                s.service,
                s.setup.ready ? 'ready' : s.setup.detail,
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
        for (const s of integrations) {
          for (const [name, value] of Object.entries(s.details ?? {})) writeLine(ctx, `${s.id} ${s.service} ${name}: ${JSON.stringify(value)}`);
        }
        writeLine(ctx, `\njobs: ${jobs.queued} queued, ${jobs.running} running, ${jobs.failed} failed`);
      }, 'read');
    });
}

const formatCellDate = (date: Date) => date.toISOString().replace('T', ' ').slice(0, 19);
