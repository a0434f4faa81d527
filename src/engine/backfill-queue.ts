/**
 * Asking for a backfill pass. A request is a graphile-worker job keyed per integration
 * (`backfill:<id>`), so requests made while no pass runs collapse into one job; their
 * array payloads are concatenated, so none is lost (a full request wins over
 * incremental ones). A request made while a pass runs becomes a new job that waits for
 * the running one (see backfill-runner.ts): exactly one more pass, never a dropped one.
 * Done in SQL so the request commits or rolls back with the caller's transaction.
 */
import { sql, type Kysely } from 'kysely';

export const BACKFILL_TASK = 'backfill';

export interface BackfillRequest {
  integration_id: number;
  incremental: boolean;
  recursive: boolean;
  /** Who asked: cron, cli, webhook, dependency... shown in backfill_runs. */
  trigger: string;
}

export const backfillJobKey = (integrationId: number) => `${BACKFILL_TASK}:${integrationId}`;

export async function enqueueBackfill(
  db: Kysely<any>,
  requests: BackfillRequest[],
  options: { delaySeconds?: number } = {},
): Promise<void> {
  const first = requests[0];
  if (!first) return;
  const payload = JSON.stringify(requests);
  // A request for later must not postpone one already due: keep the earlier run_at then.
  const mode = (options.delaySeconds ?? 0) > 0 ? 'preserve_run_at' : 'replace';
  // graphile-worker#580: under contention on one key add_job can return no row; try again.
  for (let attempt = 1; ; attempt++) {
    const { rows } = await sql<{ id: string | null }>`
      SELECT (graphile_worker.add_job(
        ${BACKFILL_TASK},
        ${payload}::json,
        run_at := now() + make_interval(secs => ${options.delaySeconds ?? 0}),
        max_attempts := 10,
        job_key := ${backfillJobKey(first.integration_id)},
        job_key_mode := ${mode}
      )).id AS id`.execute(db);
    if (rows[0]?.id != null) return;
    if (attempt >= 5) throw new Error(`could not queue a backfill of integration ${first.integration_id}: add_job kept returning no job`);
  }
}

export function requestBackfill(
  db: Kysely<any>,
  integrationId: number,
  options: { incremental?: boolean; recursive?: boolean; trigger: string },
): Promise<void> {
  return enqueueBackfill(db, [
    {
      integration_id: integrationId,
      incremental: options.incremental ?? true,
      recursive: options.recursive ?? false,
      trigger: options.trigger,
    },
  ]);
}

/** Fold the requests merged into one job into the pass to run. */
export function mergeRequests(requests: BackfillRequest[]): Omit<BackfillRequest, 'integration_id'> {
  return {
    incremental: requests.every((r) => r.incremental),
    recursive: requests.some((r) => r.recursive),
    trigger: [...new Set(requests.map((r) => r.trigger))].sort().join(','),
  };
}
