/**
 * One backfill pass of one integration: run its backfillers, record the run in
 * `backfill_runs`, move `last_backfilled_at`, then (when recursive) ask for its
 * dependents' passes. At most one pass per integration runs at a time, across all
 * processes: the pass holds a session advisory lock, which Postgres releases by itself
 * if the process dies, so a crashed worker never blocks an integration.
 *
 * A request that finds a pass running is written to `backfill_requested`; the running
 * pass reads it before releasing its lock (in one transaction with the release, so none
 * is missed) and runs exactly one more pass at once. So does a job queued a moment ahead
 * while the pass ran (backfill-queue.ts): the pass takes it off the queue at its end.
 *
 * Errors: a non-retryable SwitchboardError (bad credentials, say) is recorded on the
 * integration as its visible error state and ends the pass; anything else is recorded
 * too and reported as retryable, for the job queue to retry with back-off. A pass whose
 * signal aborts (the process is stopping) ends at its next item or row: its run is marked
 * interrupted and a new pass queued, without touching the integration's error state.
 */
import { sql, type Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../db/schema.ts';
import { awaitIngestsInFlight, backfillJobKey, mergeRequests, requestBackfill, WHILE_RUNNING_DELAY_S, type PassRequest } from './backfill-queue.ts';
import { takeJob } from '../jobs/queue.ts';
import { coerceError, isSwitchboardError, messageForLog } from './errors.ts';
import { passDuration } from '../metrics.ts';
import type { Engine } from './engine.ts';
import { ingestRows } from './ingest.ts';
import type { BackfillContext, RowInput } from './replicator.ts';

/** First half of the two-int advisory lock key: "backfill of integration <id>". */
const BACKFILL_LOCK_NAMESPACE = 0x5b02;
const HEARTBEAT_MS = 500;
const INTERRUPTED = 'interrupted: the process was stopping; rows it did not reach stay pending and a new pass is queued';

export type PassOutcome =
  | { status: 'succeeded'; runId: number; rowsProcessed: number }
  | { status: 'failed'; runId: number; rowsProcessed: number; error: Error; retryable: boolean }
  | { status: 'locked' }
  | { status: 'missing' };

export interface Progress {
  processed: number;
  total: number | null;
}

export interface PassOptions {
  /** Wait for a running pass to finish instead of leaving the request to it (CLI `--wait`). */
  waitForLock?: boolean;
  signal?: AbortSignal;
  onProgress?(progress: Progress): void;
  /** Called with the `backfill_runs` id once the pass has the lock and has recorded itself. */
  onRun?(runId: number): void;
}


/** Leave a request for the pass that holds the lock (blocks while it is deciding whether to stop). */
async function leaveRequest(db: Kysely<Database>, integrationId: number, request: PassRequest): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('service_integrations').select('backfill_requested').where('id', '=', integrationId).forUpdate().executeTakeFirst();
    const next = row?.backfill_requested ? mergeRequests([row.backfill_requested, request]) : request;
    await trx.updateTable('service_integrations').set({ backfill_requested: JSON.stringify(next) }).where('id', '=', integrationId).execute();
  });
}

/**
 * Take the request left for this integration, if any — and, at a pass's end, the job a
 * request made while it ran queued a moment ahead (backfill-queue.ts), so it runs now as one
 * more pass rather than when a worker next polls. With `unlock`, release the lock in the same
 * transaction when there is none.
 */
async function takeRequest(db: Kysely<Database>, integrationId: number, unlock?: ReturnType<typeof sql>): Promise<PassRequest | null> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('service_integrations').select('backfill_requested').where('id', '=', integrationId).forUpdate().executeTakeFirst();
    // Only a job queued while this pass ran: one queued before it is the worker's to run.
    const queued = unlock
      ? ((await takeJob(trx, { key: backfillJobKey(integrationId), dueWithinSeconds: WHILE_RUNNING_DELAY_S, contains: [{ while_running: true }] })) as PassRequest[] | null)
      : null;
    const requests = [...(row?.backfill_requested ? [row.backfill_requested] : []), ...(queued ?? [])];
    if (row?.backfill_requested) await trx.updateTable('service_integrations').set({ backfill_requested: null }).where('id', '=', integrationId).execute();
    if (requests.length > 0) return mergeRequests(requests);
    if (unlock) await sql`SELECT pg_advisory_unlock(${unlock})`.execute(trx);
    return null;
  });
}

export function runBackfillPass(engine: Engine, integrationId: number, request: PassRequest, options: PassOptions = {}): Promise<PassOutcome> {
  const lockKey = sql`${BACKFILL_LOCK_NAMESPACE}::int, (${integrationId}::bigint % 2147483647)::int`;
  const tryLock = async (conn: Kysely<Database>) =>
    (await sql<{ locked: boolean }>`SELECT pg_try_advisory_lock(${lockKey}) AS locked`.execute(conn)).rows[0]?.locked === true;
  return engine.db.connection().execute(async (conn) => {
    // A request that relied on this job (see requestBackfill) must be committed before we read, or left to us.
    await awaitIngestsInFlight(conn, integrationId);
    if (options.waitForLock) {
      await sql`SELECT pg_advisory_lock(${lockKey})`.execute(conn);
    } else if (!(await tryLock(conn))) {
      await leaveRequest(engine.db, integrationId, request);
      // The holder may have released the lock meanwhile without seeing our request.
      if (!(await tryLock(conn))) return { status: 'locked' } as const;
    }
    let locked = true;
    try {
      let current: PassRequest | null = request;
      let outcome: PassOutcome = { status: 'missing' };
      while (current) {
        const integration = await engine.db.selectFrom('service_integrations').selectAll().where('id', '=', integrationId).executeTakeFirst();
        if (!integration) return { status: 'missing' } as const;
        // A request left by a process that died before running it joins this pass.
        const leftOver = integration.backfill_requested ? await takeRequest(engine.db, integrationId) : null;
        if (leftOver) current = mergeRequests([current, leftOver]);
        outcome = await runLocked(engine, integration, current, options);
        // Stopping: no more passes here (the lock is released below); what is asked for waits for the next worker.
        if (options.signal?.aborted) return outcome;
        current = await takeRequest(conn, integrationId, lockKey);
        // A request that saw the job just taken relied on it and may not have committed yet: wait, as a job's pass does
        // (one that wrote its rows first already held takeRequest up, through their foreign key; this covers any that asks first).
        if (current) await awaitIngestsInFlight(conn, integrationId);
      }
      locked = false;
      return outcome;
    } finally {
      if (locked) await sql`SELECT pg_advisory_unlock(${lockKey})`.execute(conn);
    }
  });
}

/** One pass, the lock held: record it, run the backfillers with their context, end it. */
async function runLocked(engine: Engine, integration: ServiceIntegration, request: PassRequest, options: PassOptions): Promise<PassOutcome> {
  const { db } = engine;
  const replicator = engine.registry.get(integration.service_name);
  const log = engine.log.child({ integration_id: integration.id, service: integration.service_name });
  const run = await recordRun(db, integration, request);
  options.onRun?.(run.id);
  const signal = options.signal ?? new AbortController().signal;

  const passTimer = passDuration.startTimer({ service: integration.service_name });
  const progress: Progress = { processed: 0, total: null };
  let lastBeat = 0;
  const report = async (force = false) => {
    // Every item and delivered row reports progress: the point where a stopping pass can end cleanly.
    if (!force && signal.aborted) throw new Error(INTERRUPTED);
    options.onProgress?.({ ...progress });
    if (!force && Date.now() - lastBeat < HEARTBEAT_MS) return;
    lastBeat = Date.now();
    await db
      .updateTable('backfill_runs')
      .set({ rows_processed: progress.processed, rows_total: progress.total, heartbeat_at: sql<Date>`now()` })
      .where('id', '=', run.id)
      .execute();
  };

  const ctx: BackfillContext = {
    engine,
    integration,
    incremental: request.incremental,
    lastBackfilledAt: request.incremental ? integration.last_backfilled_at : null,
    log,
    db,
    config: engine.config,
    registry: engine.registry,
    signal,
    async upsertItems(items) {
      const toRows = replicator.toRows;
      if (!toRows) throw new Error(`${replicator.name} has no toRows for backfill items`);
      const rows: RowInput[] = [];
      for (const item of items) {
        try {
          rows.push(...toRows(item, { integration, config: engine.config }));
        } catch (error) {
          // One malformed item must not abort the rest of the pass (a WebhookDB defect).
          log.warn({ err: messageForLog(error) }, 'backfill item skipped');
        }
      }
      const upserted = await ingestRows(engine, integration, rows, { origin: 'backfill' });
      await ctx.progress(items.length);
      return upserted;
    },
    async progress(delta, total) {
      progress.processed += delta;
      if (total !== undefined) progress.total = total;
      await report();
    },
  };

  let failure: { error: Error; retryable: boolean } | null = null;
  let interrupted = false;
  try {
    for (const backfiller of replicator.backfillers?.(integration) ?? []) {
      log.debug({ backfiller: backfiller.name }, 'backfiller starting');
      await backfiller.run(ctx);
    }
  } catch (thrown) {
    interrupted = signal.aborted;
    const error = interrupted ? new Error(INTERRUPTED) : coerceError(thrown);
    failure = { error, retryable: !interrupted && (isSwitchboardError(error) ? error.retryable : true) };
    if (interrupted) log.info('backfill pass interrupted: the process is stopping');
    else log.warn({ err: messageForLog(error), retryable: failure.retryable }, 'backfill pass failed');
  }

  await report(true);
  await endRun(db, integration, request, run, failure, interrupted);

  passTimer({ status: failure ? 'failed' : 'succeeded' });
  if (failure) return { status: 'failed', runId: run.id, rowsProcessed: progress.processed, ...failure };
  log.info({ rows: progress.processed, trigger: request.trigger }, 'backfill pass succeeded');
  return { status: 'succeeded', runId: run.id, rowsProcessed: progress.processed };
}

/** Record the pass in backfill_runs; any run still marked running belongs to a process that died (we hold the lock). */
async function recordRun(db: Kysely<Database>, integration: ServiceIntegration, request: PassRequest): Promise<{ id: number; started_at: Date }> {
  await db
    .updateTable('backfill_runs')
    .set({ status: 'failed', error: 'abandoned: the process running it stopped', finished_at: sql<Date>`now()` })
    .where('integration_id', '=', integration.id)
    .where('status', '=', 'running')
    .execute();
  return db
    .insertInto('backfill_runs')
    .values({ integration_id: integration.id, incremental: request.incremental, trigger: request.trigger, status: 'running' })
    .returning(['id', 'started_at'])
    .executeTakeFirstOrThrow();
}

/**
 * In one transaction: the run's end, the integration's cursor or error, and what comes next
 * (the interrupted pass again, or the dependents' passes of a recursive one).
 */
async function endRun(
  db: Kysely<Database>,
  integration: ServiceIntegration,
  request: PassRequest,
  run: { id: number; started_at: Date },
  failure: { error: Error; retryable: boolean } | null,
  interrupted: boolean,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('backfill_runs')
      .set({ status: failure ? 'failed' : 'succeeded', error: failure?.error.message ?? null, finished_at: sql<Date>`now()` })
      .where('id', '=', run.id)
      // `backfill --wait` marks its run at once on Ctrl-C, with its own words: keep them.
      .where('status', '=', 'running')
      .execute();
    // The interrupted pass is asked for again (the job that ran it completes) for the next worker.
    if (interrupted) return requestBackfill(trx, integration.id, request);
    await trx
      .updateTable('service_integrations')
      .set(
        failure
          ? {
              last_error_code: isSwitchboardError(failure.error) ? failure.error.code : 'SB_ERR_INTERNAL',
              last_error_message: failure.error.message,
              last_error_at: sql<Date>`now()`,
            }
          : { last_backfilled_at: run.started_at, last_error_code: null, last_error_message: null, last_error_at: null },
      )
      .where('id', '=', integration.id)
      .execute();
    // Dependents run after this pass; a retryable failure will recurse when its retry succeeds.
    if (request.recursive && !failure?.retryable) {
      const dependents = await trx.selectFrom('service_integrations').select('id').where('depends_on', '=', integration.id).execute();
      for (const { id } of dependents) {
        await requestBackfill(trx, id, { incremental: request.incremental, recursive: true, trigger: 'dependency' });
      }
    }
  });
}
