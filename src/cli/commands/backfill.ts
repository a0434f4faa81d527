/**
 * `switchboard backfill <ref>`: ask for a pass (run by a worker), or with `--wait` run
 * it here to completion — waiting for a pass already running, showing progress on a
 * terminal, then running the dependents' passes when recursive. Exit 1 on failure.
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { requestBackfill } from '../../engine/backfill-queue.ts';
import { runBackfillPass, type PassOutcome, type Progress } from '../../engine/backfill-runner.ts';
import { findIntegration } from '../../engine/integrations.ts';
import type { Runtime } from '../../runtime.ts';
import { withRuntime, writeJson, writeLine, type CliContext } from '../context.ts';

interface BackfillOptions {
  incremental?: boolean;
  recursive: boolean;
  wait?: boolean;
  json?: boolean;
}

function progressRenderer(ctx: CliContext, label: string) {
  if (!ctx.stderr.isTTY) return { update: (_: Progress) => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { stream: ctx.stderr as NodeJS.WritableStream, format: `${label} |{bar}| {value}/{total} rows | {speed} rows/s | eta {eta_formatted}`, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let shown = false;
  return {
    update(p: Progress) {
      const speed = Math.round(p.processed / Math.max((Date.now() - started) / 1000, 0.001));
      if (!shown) bar.start(p.total ?? p.processed, 0, { speed });
      shown = true;
      bar.setTotal(p.total ?? p.processed);
      bar.update(p.processed, { speed });
    },
    stop: () => shown && bar.stop(),
  };
}

interface PassReport {
  integration_id: number;
  service: string;
  status: PassOutcome['status'];
  rows_processed: number;
  seconds: number;
  error?: string;
}

async function runWithDependents(ctx: CliContext, rt: Runtime, id: number, options: BackfillOptions, reports: PassReport[]): Promise<void> {
  const integration = await findIntegration(rt.engine.db, String(id));
  const progress = options.json ? { update: () => {}, stop: () => {} } : progressRenderer(ctx, integration.service_name);
  const started = Date.now();
  const outcome = await runBackfillPass(
    rt.engine,
    id,
    { incremental: options.incremental ?? false, recursive: false, trigger: 'cli' },
    { waitForLock: true, onProgress: progress.update },
  );
  progress.stop();
  reports.push({
    integration_id: id,
    service: integration.service_name,
    status: outcome.status,
    rows_processed: 'rowsProcessed' in outcome ? outcome.rowsProcessed : 0,
    seconds: (Date.now() - started) / 1000,
    ...(outcome.status === 'failed' ? { error: outcome.error.message } : {}),
  });
  if (outcome.status !== 'succeeded' || !options.recursive) return;
  const dependents = await rt.engine.db.selectFrom('service_integrations').select('id').where('depends_on', '=', id).orderBy('id').execute();
  for (const dependent of dependents) await runWithDependents(ctx, rt, dependent.id, options, reports);
}

export function registerBackfill(program: Command, ctx: CliContext): void {
  program
    .command('backfill')
    .description('backfill an integration (and, by default, its dependents)')
    .argument('<ref>', 'id, opaque id, or service name')
    .option('--incremental', 'only fetch what changed since the last successful pass')
    .option('--no-recursive', 'do not backfill the dependents afterwards')
    .option('--wait', 'run the pass here to completion instead of queueing it for a worker')
    .option('--json', 'print machine-readable JSON')
    .action(async (ref: string, options: BackfillOptions) => {
      await withRuntime(ctx, async (rt) => {
        const integration = await findIntegration(rt.engine.db, ref);
        if (!options.wait) {
          await requestBackfill(rt.engine.db, integration.id, { incremental: options.incremental ?? false, recursive: options.recursive, trigger: 'cli' });
          if (options.json) return writeJson(ctx, { queued: true, integration_id: integration.id, service: integration.service_name });
          return writeLine(ctx, `Backfill of ${integration.service_name} ${integration.id} queued; a running \`switchboard start\` or \`switchboard worker\` will run it.`);
        }
        const reports: PassReport[] = [];
        await runWithDependents(ctx, rt, integration.id, options, reports);
        const failed = reports.filter((r) => r.status !== 'succeeded');
        if (options.json) writeJson(ctx, { passes: reports });
        else {
          for (const r of reports) {
            const what = `${r.service} ${r.integration_id}: ${r.status}, ${r.rows_processed} rows in ${r.seconds.toFixed(1)}s`;
            writeLine(ctx, r.error ? `${what} (${r.error})` : what);
          }
        }
        if (failed.length > 0) ctx.exitCode = 1;
      });
    });
}
