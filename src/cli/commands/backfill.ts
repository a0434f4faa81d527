/**
 * `switchboard backfill <ref>`: ask for a pass (run by a worker), or with `--wait` run
 * it here to completion — saying when it waits for a pass already running, showing
 * progress (a bar on a terminal, a line every few seconds otherwise), then running the
 * dependents' passes when recursive. Exit 1 on failure. Ctrl-C marks the run interrupted
 * at once and says so; the rows it did not reach stay pending, with a pass queued.
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { sql } from 'kysely';
import { requestBackfill } from '../../engine/backfill-queue.ts';
import type { PassOutcome, Progress } from '../../engine/backfill-runner.ts';
import { SwitchboardError } from '../../engine/errors.ts';
import { findIntegration } from '../../engine/integrations.ts';
import type { Runtime } from '../../runtime.ts';
import { withRuntime, writeJson, writeLine, type CliContext } from '../context.ts';
import { formatAge } from '../table.ts';

interface BackfillOptions {
  incremental?: boolean;
  recursive: boolean;
  wait?: boolean;
  json?: boolean;
  progressEvery: string;
}

interface Reporter {
  update(p: Progress): void;
  stop(): void;
}

function barReporter(ctx: CliContext, label: string): Reporter {
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

/** Without a terminal (CI, logs): one line every `everyMs`, saying when nothing moved (a slow provider). */
function lineReporter(ctx: CliContext, label: string, everyMs: number): Reporter {
  const started = Date.now();
  let last: Progress = { processed: 0, total: null };
  let lastMoved = started;
  const timer = setInterval(() => {
    const rows = last.total === null ? `${last.processed} rows` : `${last.processed}/${last.total} rows`;
    const still = Date.now() - lastMoved >= everyMs ? `; no new rows for ${formatAge((Date.now() - lastMoved) / 1000)} (waiting on the provider)` : '';
    ctx.stderr.write(`${label}: ${rows} after ${formatAge((Date.now() - started) / 1000)}${still}\n`);
  }, everyMs);
  return {
    update(p: Progress) {
      if (p.processed !== last.processed) lastMoved = Date.now();
      last = p;
    },
    stop: () => clearInterval(timer),
  };
}

interface PassReport {
  integration_id: number;
  service: string;
  status: PassOutcome['status'] | 'interrupted';
  rows_processed: number;
  seconds: number;
  error?: string;
}

/** What the pass in progress is doing, for the Ctrl-C message. */
interface Current {
  label: string;
  runId: number | null;
}

async function runWithDependents(ctx: CliContext, rt: Runtime, id: number, options: BackfillOptions, reports: PassReport[], current: Current, signal: AbortSignal): Promise<void> {
  const integration = await findIntegration(rt.engine.db, String(id));
  const label = `${integration.service_name} ${integration.id}`;
  Object.assign(current, { label, runId: null });
  const running = await rt.engine.db
    .selectFrom('backfill_runs')
    .select(['id', 'trigger', sql<number>`extract(epoch FROM now() - started_at)`.as('age')])
    .where('integration_id', '=', id)
    .where('status', '=', 'running')
    .executeTakeFirst();
  if (running) {
    ctx.stderr.write(`${label}: waiting for the pass already running (run ${running.id}, ${running.trigger}, started ${formatAge(running.age)} ago) to finish…\n`);
  }
  const everyMs = Number(options.progressEvery) * 1000;
  const progress: Reporter = options.json || !ctx.stderr.isTTY ? lineReporter(ctx, label, everyMs) : barReporter(ctx, label);
  const started = Date.now();
  const { runBackfillPass } = await import('../../engine/backfill-runner.ts');
  const outcome = await runBackfillPass(
    rt.engine,
    id,
    { incremental: options.incremental ?? false, recursive: false, trigger: 'cli' },
    { waitForLock: true, onProgress: progress.update, onRun: (runId) => (current.runId = runId), signal },
  ).finally(() => progress.stop());
  reports.push({
    integration_id: id,
    service: integration.service_name,
    status: signal.aborted ? 'interrupted' : outcome.status,
    rows_processed: 'rowsProcessed' in outcome ? outcome.rowsProcessed : 0,
    seconds: (Date.now() - started) / 1000,
    ...(outcome.status === 'failed' && !signal.aborted ? { error: outcome.error.message } : {}),
  });
  if (outcome.status !== 'succeeded' || !options.recursive || signal.aborted) return;
  const dependents = await rt.engine.db.selectFrom('service_integrations').select('id').where('depends_on', '=', id).orderBy('id').execute();
  for (const dependent of dependents) await runWithDependents(ctx, rt, dependent.id, options, reports, current, signal);
}

/** On the first Ctrl-C: mark the run at once, say what happened to it, and let the pass end at its next row. */
function onInterrupt(ctx: CliContext, rt: Runtime, current: Current, controller: AbortController): void {
  void ctx.untilStopped().then(async (signal) => {
    if (current.runId === null) {
      controller.abort();
      ctx.stderr.write(`\nInterrupted (${signal}) while ${current.label} waited for its turn: nothing has run; it stops once the pass it waits for ends (again to exit at once).\n`);
      return;
    }
    // Marked before the pass is told to stop: else the pass may end its run first, in its own words.
    try {
      await rt.engine.db
        .updateTable('backfill_runs')
        .set({ status: 'failed', error: `interrupted by ${signal} during \`backfill --wait\``, finished_at: sql<Date>`now()` })
        .where('id', '=', current.runId)
        .where('status', '=', 'running')
        .execute();
    } finally {
      controller.abort();
    }
    ctx.stderr.write(
      `\nInterrupted (${signal}): run ${current.runId} of ${current.label} is marked failed ("interrupted"). What it stored is kept; rows it did not reach stay pending and a pass is queued for a worker. Finishing the row in flight… (again to exit at once)\n`,
    );
  });
}

export function registerBackfill(program: Command, ctx: CliContext): void {
  program
    .command('backfill')
    .description('backfill an integration (and, by default, its dependents)')
    .argument('<ref>', 'id, opaque id, or service name')
    .option('--incremental', 'only fetch what changed since the last successful pass')
    .option('--no-recursive', 'do not backfill the dependents afterwards')
    .option('--wait', 'run the pass here to completion instead of queueing it for a worker')
    .option('--progress-every <seconds>', 'with --wait and no terminal: print a progress line this often', '10')
    .option('--json', 'print machine-readable JSON')
    .action(async (ref: string, options: BackfillOptions) => {
      if (!(Number(options.progressEvery) > 0)) throw new SwitchboardError('SB_ERR_USAGE', '--progress-every takes a number of seconds above 0');
      await withRuntime(ctx, async (rt) => {
        const integration = await findIntegration(rt.engine.db, ref);
        if (!options.wait) {
          await requestBackfill(rt.engine.db, integration.id, { incremental: options.incremental ?? false, recursive: options.recursive, trigger: 'cli' });
          if (options.json) return writeJson(ctx, { queued: true, integration_id: integration.id, service: integration.service_name });
          return writeLine(ctx, `Backfill of ${integration.service_name} ${integration.id} queued; a running \`switchboard start\` or \`switchboard worker\` will run it.`);
        }
        const reports: PassReport[] = [];
        const current: Current = { label: `${integration.service_name} ${integration.id}`, runId: null };
        const controller = new AbortController();
        onInterrupt(ctx, rt, current, controller);
        await runWithDependents(ctx, rt, integration.id, options, reports, current, controller.signal);
        if (options.json) writeJson(ctx, { passes: reports });
        else {
          for (const r of reports) {
            const what = `${r.service} ${r.integration_id}: ${r.status}, ${r.rows_processed} rows in ${r.seconds.toFixed(1)}s`;
            writeLine(ctx, r.error ? `${what} (${r.error})` : what);
          }
        }
        if (controller.signal.aborted) ctx.exitCode = 130;
        else if (reports.some((r) => r.status !== 'succeeded')) ctx.exitCode = 1;
      });
    });
}
