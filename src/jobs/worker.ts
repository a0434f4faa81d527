/**
 * Runs graphile-worker in this process: the backfill tasks and the crontab (polling and
 * webhook-log pruning). Several worker processes on one database are safe: jobs are
 * claimed with SKIP LOCKED and passes of one integration exclude each other by lock.
 */
import { parseCrontab, run, runOnce, type Runner } from 'graphile-worker';
import { sql } from 'kysely';
import { ConfigError, type Config } from '../config.ts';
import { requestBackfill } from '../engine/backfill-queue.ts';
import type { Engine } from '../engine/ingest.ts';
import { graphileLogger } from './graphile-logger.ts';
import { crontab, taskList } from './tasks.ts';

export type WorkerConfig = Pick<Config, 'workerConcurrency' | 'pollCron' | 'webhookLogRetentionDays'> & {
  /** After a graceful stop begins, how long jobs run on before their abort signal fires (graphile-worker's default: 5 s). */
  shutdownAbortMs?: number;
};

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

function workerOptions(engine: Engine, databaseUrl: string, config: WorkerConfig) {
  return {
    connectionString: databaseUrl,
    concurrency: config.workerConcurrency,
    maxPoolSize: config.workerConcurrency + 2,
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
  const runner = await run({ ...workerOptions(engine, databaseUrl, config), parsedCronItems: parsedCrontab(config.pollCron) });
  await resumePending(engine);
  return runner;
}

/** `worker --once`: the passes rows left pending ask for, then every job due now, then return (cron, for example). */
export async function runWorkerOnce(engine: Engine, databaseUrl: string, config: WorkerConfig): Promise<void> {
  await resumePending(engine);
  await runOnce(workerOptions(engine, databaseUrl, config));
}
