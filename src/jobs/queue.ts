/**
 * The job queue: the one module that knows graphile-worker's SQL — adding and removing
 * jobs, finding a waiting one, counting and listing them, installing its schema — so the
 * rest of Switchboard never reads its tables, and a graphile-worker upgrade is checked here.
 * Functions take the caller's connection or transaction: a job commits or rolls back with
 * the rows that asked for it.
 */
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { Logger } from '../log.ts';

export interface AddJobOptions {
  /** Seconds from now; 0 (the default) is due at once. */
  delaySeconds?: number;
  maxAttempts: number;
  /** Jobs with one key are one job: adding again updates it, as `keyMode` says. */
  key: string;
  /** `replace`: payload and run_at replaced (payload arrays are concatenated by graphile-worker); `preserve_run_at`: run_at kept. */
  keyMode: 'replace' | 'preserve_run_at';
}

/** Adds (or updates, by key) a job; false when graphile-worker returned no job (graphile-worker#580: try again). */
export async function addJob(db: Kysely<any>, task: string, payload: unknown, options: AddJobOptions): Promise<boolean> {
  const { rows } = await sql<{ id: unknown }>`
    SELECT (graphile_worker.add_job(
      ${task},
      ${JSON.stringify(payload)}::json,
      run_at := now() + make_interval(secs => ${options.delaySeconds ?? 0}),
      max_attempts := ${options.maxAttempts},
      job_key := ${options.key},
      job_key_mode := ${options.keyMode}
    )).id AS id`.execute(db);
  return rows[0]?.id != null;
}

/** Removes the job with this key, unless a worker holds it (graphile-worker then lets it finish but not retry). */
export async function removeJob(db: Kysely<any>, key: string): Promise<void> {
  await sql`SELECT graphile_worker.remove_job(${key})`.execute(db);
}

/**
 * What the queue holds for a request: under `key`, a job not taken and not given up whose
 * payload contains `waiting` (jsonb containment), due now or within `soonSeconds`; and
 * whether a worker took a job whose payload contains `running` in the last two minutes (by
 * payload, not key: graphile-worker takes the key off a running job when the key is added again).
 * graphile-worker's public view has no payload: this reads its table, whose shape is fixed
 * within the pinned version.
 */
export async function queuedFor(
  db: Kysely<any>,
  options: { key: string; waiting: unknown; running: unknown; soonSeconds: number },
): Promise<{ dueNow: boolean; dueSoon: boolean; running: boolean }> {
  const { rows } = await sql<{ due_now: boolean; due_soon: boolean; running: boolean }>`
    SELECT
      COALESCE(bool_or(run_at <= now()) FILTER (WHERE waiting), false) AS due_now,
      COALESCE(bool_or(run_at <= now() + make_interval(secs => ${options.soonSeconds})) FILTER (WHERE waiting), false) AS due_soon,
      -- One taken long ago may be a dead worker's (graphile-worker frees those after 4 hours).
      COALESCE(bool_or(locked_at > now() - interval '2 minutes' AND payload::jsonb @> ${JSON.stringify(options.running)}::jsonb), false) AS running
    FROM (
      SELECT run_at, locked_at, payload,
        key IS NOT DISTINCT FROM ${options.key} AND locked_at IS NULL AND attempts < max_attempts
          AND payload::jsonb @> ${JSON.stringify(options.waiting)}::jsonb AS waiting
      -- Taken jobs are few (at most the workers' concurrency).
      FROM graphile_worker._private_jobs WHERE key = ${options.key} OR locked_at IS NOT NULL
    ) jobs`.execute(db);
  const row = rows[0];
  return { dueNow: row?.due_now ?? false, dueSoon: row?.due_soon ?? false, running: row?.running ?? false };
}

/**
 * Takes the job under `key` off the queue — deleted, as graphile-worker's remove_job does —
 * when no worker holds it, it is due within `seconds` and its payload contains `contains`;
 * returns its payload, else null.
 */
export async function takeJob(db: Kysely<any>, options: { key: string; dueWithinSeconds: number; contains: unknown }): Promise<unknown> {
  const { rows } = await sql<{ payload: unknown }>`
    DELETE FROM graphile_worker._private_jobs
    WHERE key = ${options.key} AND locked_at IS NULL AND attempts < max_attempts
      AND run_at <= now() + make_interval(secs => ${options.dueWithinSeconds}) AND payload::jsonb @> ${JSON.stringify(options.contains)}::jsonb
    RETURNING payload`.execute(db);
  return rows[0]?.payload ?? null;
}

/** How many jobs are queued, running, and failed for good. */
export async function jobCounts(db: Kysely<any>): Promise<{ queued: number; running: number; failed: number }> {
  const { rows } = await sql<{ queued: number; running: number; failed: number }>`
    SELECT
      count(*) FILTER (WHERE locked_at IS NULL AND attempts < max_attempts)::int AS queued,
      count(*) FILTER (WHERE locked_at IS NOT NULL)::int AS running,
      count(*) FILTER (WHERE attempts >= max_attempts)::int AS failed
    FROM graphile_worker.jobs`.execute(db);
  return rows[0] ?? { queued: 0, running: 0, failed: 0 };
}

export interface JobListing {
  id: string;
  task: string;
  key: string | null;
  run_at: Date;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  locked_at: Date | null;
  locked_by: string | null;
  created_at: Date;
  state: 'running' | 'failed' | 'queued';
}

/** Running jobs first, then failed ones, then the queue by due time. */
export async function listJobs(db: Kysely<any>, limit: number): Promise<JobListing[]> {
  const { rows } = await sql<JobListing>`
    SELECT id, task_identifier AS task, key, run_at, attempts, max_attempts, last_error, locked_at, locked_by, created_at,
           CASE WHEN locked_at IS NOT NULL THEN 'running' WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END AS state
    FROM graphile_worker.jobs
    ORDER BY (locked_at IS NULL), (attempts < max_attempts), run_at
    LIMIT ${limit}`.execute(db);
  return rows;
}

/** Installs or upgrades graphile-worker's schema. Loaded on use: commands that only read never load graphile-worker. */
export async function migrateQueue(pool: pg.Pool, log: Logger): Promise<void> {
  const [{ runMigrations }, { graphileLogger }] = await Promise.all([import('graphile-worker'), import('./graphile-logger.ts')]);
  await runMigrations({ pgPool: pool, logger: graphileLogger(log) });
}
