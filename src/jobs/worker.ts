/**
 * Runs graphile-worker in this process: the backfill tasks and the crontab (polling and
 * webhook-log pruning). Several worker processes on one database are safe: jobs are
 * claimed with SKIP LOCKED and passes of one integration exclude each other by lock.
 */
import { parseCrontab, run, runOnce, type Runner } from 'graphile-worker';
import { sql } from 'kysely';
import pg from 'pg';
import { ConfigError, type Config } from '../config.ts';
import { endOverrunningReaderSessions } from '../db/reader-roles.ts';
import { requestBackfill } from '../engine/backfill-queue.ts';
import type { Engine } from '../engine/engine.ts';
import { graphileLogger } from './graphile-logger.ts';
import { crontab, taskList } from './tasks.ts';

export type { Runner };

/** With `sqlTimeoutMs`, the worker also holds read-only roles to it (src/db/reader-roles.ts). */
export type WorkerConfig = Pick<Config, 'workerConcurrency' | 'pollCron' | 'webhookLogRetentionDays'> &
  Partial<Pick<Config, 'sqlTimeoutMs'>> & {
    /** After a graceful stop begins, how long jobs run on before their abort signal fires (graphile-worker's default: 5 s). */
    shutdownAbortMs?: number;
  };

/** How often reader sessions are checked against their timeouts. */
const READER_CHECK_MS = 2000;

/**
 * A read-only role can SET its timeouts away; every READER_CHECK_MS the worker ends its
 * sessions that overran them. The first failure (no right to signal) is logged once.
 */
function boundReaderSessions(engine: Engine, timeoutMs: number): () => void {
  let warned = false;
  const timer = setInterval(() => {
    endOverrunningReaderSessions(engine.db, timeoutMs)
      .then((ended) => {
        if (ended > 0) engine.log.warn({ sessions: ended }, 'ended read-only sessions that ran past SWITCHBOARD_SQL_TIMEOUT_MS');
      })
      .catch((error: Error) => {
        if (!warned) engine.log.warn({ err: error.message }, 'cannot check read-only sessions against their timeout');
        warned = true;
      });
  }, READER_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Rows left pending by a worker that died (its jobs stay locked in graphile-worker for
 * hours) are picked up at once: a starting worker asks for a pass of every integration
 * with pending rows.
 */
async function resumePending(engine: Engine): Promise<void> {
  const integrations = await engine.db.selectFrom('service_integrations').select(['id', 'service_name']).execute();
  for (const integration of integrations) {
    if (!engine.registry.has(integration.service_name)) continue;
    const replicator = engine.registry.get(integration.service_name);
    if (!replicator.pendingWhere) continue;
    const { rows } = await sql<{ pending: boolean }>`
      SELECT EXISTS (SELECT 1 FROM ${sql.table(replicator.name)} WHERE integration_id = ${integration.id} AND (${sql.raw(replicator.pendingWhere)})) AS pending`.execute(engine.db);
    if (rows[0]?.pending) await requestBackfill(engine.db, integration.id, { trigger: 'startup' });
  }
}

/** The crontab, or a ConfigError naming SWITCHBOARD_POLL_CRON (the only part an operator writes). */
export function parsedCrontab(pollCron: string) {
  try {
    return parseCrontab(crontab(pollCron));
  } catch (error) {
    throw new ConfigError(`invalid configuration: SWITCHBOARD_POLL_CRON: "${pollCron}" is not a crontab schedule (five fields, e.g. "*/5 * * * *"): ${(error as Error).message}`);
  }
}

/**
 * graphile-worker 0.17 ends a pool it made itself without waiting, and drops its error
 * handlers at once: stop() resolved while its connections were still closing, and stopping
 * Postgres (or dropping the database) then crashed the process with an unhandled pg error.
 * So it gets a pool of ours, whose errors are logged and whose end is awaited.
 */
function workerPool(engine: Engine, databaseUrl: string, config: WorkerConfig): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: config.workerConcurrency + 2 });
  pool.on('error', (error) => engine.log.warn({ err: error.message }, 'idle worker database client error'));
  pool.on('connect', (client) => client.on('error', (error) => engine.log.warn({ err: error.message }, 'worker database client error')));
  return pool;
}

function workerOptions(engine: Engine, pgPool: pg.Pool, config: WorkerConfig) {
  return {
    pgPool,
    concurrency: config.workerConcurrency,
    // Our process owns its signals and shuts the worker down gracefully itself.
    noHandleSignals: true,
    ...(config.shutdownAbortMs !== undefined ? { gracefulShutdownAbortTimeout: config.shutdownAbortMs } : {}),
    // Unbatched, graphile-worker 0.17 does not await a job's completion before a graceful
    // shutdown resolves: the pools closed under it and the finished job stayed locked. Batched
    // (even with no delay), shutdown waits for the batch.
    preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    pollInterval: 1000,
    logger: graphileLogger(engine.log),
    taskList: taskList(engine, config),
  };
}

export async function startWorker(engine: Engine, databaseUrl: string, config: WorkerConfig): Promise<Runner> {
  const pool = workerPool(engine, databaseUrl, config);
  let runner: Runner;
  try {
    runner = await run({ ...workerOptions(engine, pool, config), parsedCronItems: parsedCrontab(config.pollCron) });
  } catch (error) {
    await pool.end();
    throw error;
  }
  const stopBounding = config.sqlTimeoutMs ? boundReaderSessions(engine, config.sqlTimeoutMs) : () => undefined;
  await resumePending(engine);
  return {
    ...runner,
    async stop(reason) {
      stopBounding();
      try {
        await runner.stop(reason);
      } finally {
        await pool.end();
      }
    },
  };
}

/** `worker --once`: the passes rows left pending ask for, then every job due now, then return (cron, for example). */
export async function runWorkerOnce(engine: Engine, databaseUrl: string, config: WorkerConfig): Promise<void> {
  await resumePending(engine);
  const pool = workerPool(engine, databaseUrl, config);
  try {
    await runOnce(workerOptions(engine, pool, config));
  } finally {
    await pool.end();
  }
}
