/**
 * Asking for a backfill pass. A request is a graphile-worker job keyed per integration
 * (`backfill:<id>`), so requests made while no pass runs collapse into one job; their
 * array payloads are concatenated, so none is lost (a full request wins over
 * incremental ones). A request made while a pass runs becomes a new job, queued a moment
 * ahead (WHILE_RUNNING_DELAY_S); if the pass still runs when it is taken, it leaves its
 * request to that pass (see backfill-runner.ts): exactly one more pass, never a dropped one.
 * Done in SQL so the request commits or rolls back with the caller's transaction.
 */
import { sql, type Kysely } from 'kysely';
import { addJob, queuedFor } from '../jobs/queue.ts';

export const BACKFILL_TASK = 'backfill';

export interface BackfillRequest {
  integration_id: number;
  incremental: boolean;
  recursive: boolean;
  /** Who asked: cron, cli, webhook, dependency... shown in backfill_runs. */
  trigger: string;
  /** Made while the integration's pass ran: that pass takes the job at its end (backfill-runner.ts). */
  while_running?: true;
}

export const backfillJobKey = (integrationId: number) => `${BACKFILL_TASK}:${integrationId}`;

export async function enqueueBackfill(
  db: Kysely<any>,
  requests: BackfillRequest[],
  options: { delaySeconds?: number; /** The job runs `delaySeconds` from now even when it was due later (a retry's). */ bringForward?: boolean } = {},
): Promise<void> {
  const first = requests[0];
  if (!first) return;
  // A request for later must not postpone one already due: keep the earlier run_at then.
  const mode = (options.delaySeconds ?? 0) > 0 && !options.bringForward ? 'preserve_run_at' : 'replace';
  // graphile-worker#580: under contention on one key add_job can return no row; try again.
  for (let attempt = 1; ; attempt++) {
    if (await addJob(db, BACKFILL_TASK, requests, { delaySeconds: options.delaySeconds ?? 0, maxAttempts: 10, key: backfillJobKey(first.integration_id), keyMode: mode })) return;
    if (attempt >= 5) throw new Error(`could not queue a backfill of integration ${first.integration_id}: add_job kept returning no job`);
  }
}

/**
 * First half of the two-int advisory lock key "rows for integration <id> being written":
 * a transaction asking for a backfill holds it shared until it commits; a pass takes it
 * exclusively (and drops it at once) before reading rows, so it waits for those commits.
 */
const INGEST_BARRIER_NAMESPACE = 0x5b03;
const barrierKey = (integrationId: number) => sql`${INGEST_BARRIER_NAMESPACE}::int, (${integrationId}::bigint % 2147483647)::int`;

/** Before a pass reads pending rows: wait until every transaction that relied on the queued job has committed. */
export async function awaitIngestsInFlight(db: Kysely<any>, integrationId: number): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(${barrierKey(integrationId)})`.execute(db);
}

/**
 * While a pass runs, a request is queued this far ahead: the running pass reads rows as they
 * commit (see front-channel/deliver.ts), so the job is only for rows committed as it ends.
 * Due at once, it would be taken straight away, find the pass's lock held and leave its
 * request — a job, a lock attempt and a write for nearly every webhook under load.
 */
export const WHILE_RUNNING_DELAY_S = 0.25;

/**
 * Ask for a pass, committed with the caller's transaction. When the same request already
 * waits in a queued job (not yet taken, due, not given up) — or, while a pass runs, in one
 * due within WHILE_RUNNING_DELAY_S — that job will do: writing the job row again would make
 * every concurrent webhook of the integration queue on that one row lock until the previous
 * one commits. The job cannot start reading before we commit: we hold the barrier shared
 * from before we looked, and a pass takes it exclusively first.
 */
export async function requestBackfill(
  db: Kysely<any>,
  integrationId: number,
  options: { incremental?: boolean; recursive?: boolean; trigger: string },
): Promise<void> {
  const request = {
    integration_id: integrationId,
    incremental: options.incremental ?? true,
    recursive: options.recursive ?? false,
    trigger: options.trigger,
  };
  await sql`SELECT pg_advisory_xact_lock_shared(${barrierKey(integrationId)})`.execute(db);
  const queued = await queuedFor(db, {
    key: backfillJobKey(integrationId),
    waiting: [request],
    running: [{ integration_id: integrationId }],
    soonSeconds: WHILE_RUNNING_DELAY_S,
  });
  if (queued.dueNow || (queued.running && queued.dueSoon)) return;
  if (queued.running) await enqueueBackfill(db, [{ ...request, while_running: true }], { delaySeconds: WHILE_RUNNING_DELAY_S, bringForward: true });
  else await enqueueBackfill(db, [request]);
}

/** What a pass is asked to do: requests without their integration. */
export type PassRequest = Omit<BackfillRequest, 'integration_id'>;

/** Fold requests (those merged into one job, or a pass's and one left for it) into the pass to run. */
export function mergeRequests(requests: PassRequest[]): PassRequest {
  return {
    incremental: requests.every((r) => r.incremental),
    recursive: requests.some((r) => r.recursive),
    // A merged request's trigger already lists several.
    trigger: [...new Set(requests.flatMap((r) => r.trigger.split(',')))].sort().join(','),
  };
}
