/**
 * Runs graphile-worker in this process: the backfill tasks and the crontab (polling and
 * webhook-log pruning). Several worker processes on one database are safe: jobs are
 * claimed with SKIP LOCKED and passes of one integration exclude each other by lock.
 */
import { parseCrontab, run, type Runner } from 'graphile-worker';
import { sql } from 'kysely';
import type { Config } from '../config.ts';
import { endOverrunningReaderSessions } from '../db/reader-roles.ts';
import { requestBackfill } from '../engine/backfill-queue.ts';
import type { Engine } from '../engine/ingest.ts';
import { graphileLogger } from './graphile-logger.ts';
import { crontab, taskList } from './tasks.ts';

/** With `sqlTimeoutMs`, the worker also holds read-only roles to it (src/db/reader-roles.ts). */
export type WorkerConfig = Pick<Config, 'workerConcurrency' | 'pollCron' | 'webhookLogRetentionDays'> & Partial<Pick<Config, 'sqlTimeoutMs'>>;

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

export async function startWorker(engine: Engine, databaseUrl: string, config: WorkerConfig): Promise<Runner> {
  const runner = await run({
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
  if (config.sqlTimeoutMs) void runner.promise.finally(boundReaderSessions(engine, config.sqlTimeoutMs)).catch(() => undefined);
  await resumePending(engine);
  return runner;
}
