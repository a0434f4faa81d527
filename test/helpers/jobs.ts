/** What graphile-worker holds in its queue (payloads are only in its private table). */
import { sql, type Kysely } from 'kysely';

export interface QueuedJob {
  id: number;
  key: string | null;
  payload: unknown;
  locked: boolean;
  attempts: number;
}

export async function queuedJobs(db: Kysely<any>, task = 'backfill'): Promise<QueuedJob[]> {
  const { rows } = await sql<QueuedJob>`
    SELECT j.id::int AS id, j.key, j.payload, j.locked_at IS NOT NULL AS locked, j.attempts
    FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id
    WHERE t.identifier = ${task} ORDER BY j.id`.execute(db);
  return rows;
}
