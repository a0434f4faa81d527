/**
 * `switchboard start` (HTTP server, with the worker in-process unless --no-worker) and
 * `switchboard worker` (the worker alone). Both migrate first. On SIGINT/SIGTERM they
 * stop taking work, finish what is in flight, close the pool and release embedded
 * Postgres; a second signal exits at once.
 */
import type { Command } from 'commander';
import type { Runner } from 'graphile-worker';
import { createPool, poolSizeFor, wrapPool } from '../../db/connect.ts';
import { buildApp, buildMetricsApp } from '../../http/app.ts';
import { startWorker } from '../../jobs/worker.ts';
import { createLogger } from '../../log.ts';
import { openRuntime } from '../../runtime.ts';
import { config, type CliContext } from '../context.ts';

async function serve(ctx: CliContext, options: { http: boolean; worker: boolean }): Promise<number> {
  const cfg = config(ctx);
  const log = createLogger(cfg.logLevel);
  const runtime = await openRuntime({ config: cfg, log, registry: ctx.registry, migrate: true });
  let runner: Runner | null = null;
  let app: Awaited<ReturnType<typeof buildApp>> | null = null;
  let metricsApp: Awaited<ReturnType<typeof buildMetricsApp>> | null = null;
  // Backfill passes hold connections across provider calls: give them their own pool, so
  // slow providers can never starve webhooks of connections.
  const workerDb = options.worker && options.http ? wrapPool(runtime.database.url, createPool(runtime.database.url, poolSizeFor(cfg), log)) : null;
  try {
    if (options.worker) runner = await startWorker(workerDb ? { ...runtime.engine, db: workerDb.db } : runtime.engine, runtime.database.url, cfg);
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
    } else {
      ctx.stderr.write('switchboard worker running\n');
    }
    const signal = await ctx.untilStopped();
    log.info({ signal }, 'shutting down');
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
    .action(async () => {
      ctx.exitCode = await serve(ctx, { http: false, worker: true });
    });
}
