/**
 * `switchboard start` (HTTP server, with the worker in-process unless --no-worker) and
 * `switchboard worker` (the worker alone). Both migrate first. On SIGINT/SIGTERM they
 * say what they wait for, then stop in order: HTTP (finishing requests), the worker
 * (passes in flight are asked to stop after SHUTDOWN_ABORT_MS and end at their next row,
 * queued again), the pools, and last embedded Postgres. A second signal exits at once.
 */
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import type { Runner } from '../../jobs/worker.ts';
import type { Runtime } from '../../runtime.ts';
import { cliLogger, config, withRuntime, type CliContext } from '../context.ts';

/** How long passes in flight may run on after a stop signal before they are asked to stop. */
export const SHUTDOWN_ABORT_MS = 5_000;

/** Integration ids of the backfill jobs this process is running, from graphile-worker's events. */
function passesInFlight(runner: Runner): Map<string, number> {
  const running = new Map<string, number>();
  const idOf = (payload: unknown) => (Array.isArray(payload) ? (payload[0] as { integration_id?: number } | undefined)?.integration_id : undefined);
  runner.events.on('job:start', ({ job }) => {
    const id = job.task_identifier === 'backfill' ? idOf(job.payload) : undefined;
    if (typeof id === 'number') running.set(job.id, id);
  });
  runner.events.on('job:complete', ({ job }) => running.delete(job.id));
  return running;
}

/** The server and the worker, loaded only by the commands that run them: --help and the read commands stay light. */
const serverModules = () => Promise.all([import('../../http/app.ts'), import('../../jobs/worker.ts'), import('../../db/connect.ts'), import('../../runtime.ts')]);

async function serve(ctx: CliContext, options: { http: boolean; worker: boolean }): Promise<number> {
  const cfg = config(ctx);
  const [{ buildApp, buildMetricsApp }, { parsedCrontab, startWorker }, { createPool, poolSizeFor, wrapPool }, { openRuntime }] = await serverModules();
  // A bad schedule is a configuration error: say so before touching the database.
  if (options.worker) parsedCrontab(cfg.pollCron);
  const log = await cliLogger(ctx, cfg, false);
  const runtime = await openRuntime({ config: cfg, log, registry: await ctx.loadRegistry(), mode: 'migrate' });
  let runner: Runner | null = null;
  let inFlight = new Map<string, number>();
  let app: FastifyInstance | null = null;
  let metricsApp: FastifyInstance | null = null;
  // Backfill passes hold connections across provider calls: give them their own pool, so
  // slow providers can never starve webhooks of connections.
  const workerDb = options.worker && options.http ? wrapPool(runtime.database.url, createPool(runtime.database.url, poolSizeFor(cfg), log)) : null;
  try {
    if (options.worker) {
      runner = await startWorker(workerDb ? { ...runtime.engine, db: workerDb.db } : runtime.engine, runtime.database.url, { ...cfg, shutdownAbortMs: SHUTDOWN_ABORT_MS });
      inFlight = passesInFlight(runner);
    }
    if (options.http) {
      app = await buildApp({ engine: runtime.engine, config: cfg });
      const address = await app.listen({ host: cfg.host, port: cfg.port });
      log.info({ address, public_url: cfg.publicUrl }, 'listening');
      ctx.stderr.write(`switchboard listening on ${address} (public URL ${cfg.publicUrl})\n`);
      if (cfg.metrics.port !== undefined) {
        metricsApp = await buildMetricsApp(runtime.engine);
        const metricsAddress = await metricsApp.listen({ host: cfg.metrics.host, port: cfg.metrics.port });
        ctx.stderr.write(`metrics on ${metricsAddress}/metrics\n`);
      }
      const signIn = cfg.adminToken ? 'sign in with SWITCHBOARD_ADMIN_TOKEN' : 'get a sign-in link with `npx switchboard admin-token`';
      ctx.stderr.write(`dashboard: ${address}/ (${signIn})\n`);
    } else {
      ctx.stderr.write('switchboard worker running\n');
    }
    const signal = await ctx.untilStopped();
    log.info({ signal }, 'shutting down');
    ctx.stderr.write(`stopping (${signal}): ${await waitingFor(runtime.engine.db, [...inFlight.values()], options.http)}; a second signal exits at once\n`);
    return 0;
  } finally {
    await app?.close();
    await metricsApp?.close();
    await runner?.stop();
    await workerDb?.close();
    await runtime.close();
    await new Promise<void>((resolve) => log.flush(() => resolve()));
  }
}

/** The one line a stopping process prints: what it is about to wait for. */
async function waitingFor(db: Runtime['engine']['db'], integrationIds: number[], http: boolean): Promise<string> {
  const what = http ? ['finishing HTTP requests'] : [];
  if (integrationIds.length > 0) {
    // Names are a nicety: with the database gone, ids must do, and the shutdown must go on.
    const rows = await db
      .selectFrom('service_integrations')
      .select(['id', 'service_name'])
      .where('id', 'in', integrationIds)
      .orderBy('id')
      .execute()
      .catch(() => integrationIds.map((id) => ({ id, service_name: 'integration' })));
    const names = rows.map((r) => `${r.service_name} ${r.id}`).join(', ');
    what.push(`waiting for ${integrationIds.length} backfill pass${integrationIds.length === 1 ? '' : 'es'} (${names}) to finish (asked to stop after ${SHUTDOWN_ABORT_MS / 1000} s)`);
  }
  return what.length > 0 ? what.join(', then ') : 'nothing in flight';
}

export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description('migrate, then serve webhooks and run the worker (embedded Postgres unless DATABASE_URL)')
    .option('--no-worker', 'serve HTTP only; run `switchboard worker` separately')
    .action(async (options: { worker: boolean }) => {
      ctx.exitCode = await serve(ctx, { http: true, worker: options.worker });
    });
  program
    .command('worker')
    .description('migrate, then run backfill jobs and the polling crontab without the HTTP server')
    .option('--once', 'run the jobs due now (and passes for rows left pending), then exit: for cron or a one-off catch-up')
    .action(async (options: { once?: boolean }) => {
      if (!options.once) {
        ctx.exitCode = await serve(ctx, { http: false, worker: true });
        return;
      }
      const [, { runWorkerOnce }] = await serverModules();
      await withRuntime(ctx, (rt) => runWorkerOnce(rt.engine, rt.database.url, rt.config));
      ctx.stderr.write('switchboard worker: no job due is left\n');
    });
}
