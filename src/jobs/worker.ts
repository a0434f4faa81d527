/**
 * Runs graphile-worker in this process: the backfill tasks and the crontab (polling and
 * webhook-log pruning). Several worker processes on one database are safe: jobs are
 * claimed with SKIP LOCKED and passes of one integration exclude each other by lock.
 */
import { parseCrontab, run, type Runner } from 'graphile-worker';
import type { Config } from '../config.ts';
import type { Engine } from '../engine/ingest.ts';
import { graphileLogger } from './graphile-logger.ts';
import { crontab, taskList } from './tasks.ts';

export type WorkerConfig = Pick<Config, 'workerConcurrency' | 'pollCron' | 'webhookLogRetentionDays'>;

export async function startWorker(engine: Engine, databaseUrl: string, config: WorkerConfig): Promise<Runner> {
  return run({
    connectionString: databaseUrl,
    concurrency: config.workerConcurrency,
    maxPoolSize: config.workerConcurrency + 2,
    // Our process owns its signals and shuts the worker down gracefully itself.
    noHandleSignals: true,
    pollInterval: 1000,
    logger: graphileLogger(engine.log),
    taskList: taskList(engine, config),
    parsedCronItems: parseCrontab(crontab(config.pollCron)),
  });
}
