/**
 * The convergence gap of one integration: its rows, those still pending (the replicator's
 * `pendingWhere`, served by its partial index), those given up (`failedWhere`), and the age
 * of the oldest pending one. Read by `switchboard status` and by /metrics.
 */
import { sql, type Kysely } from 'kysely';
import type { Replicator } from './replicator.ts';

export interface Gap {
  rows: number;
  pending: number | null;
  failed: number | null;
  oldestPendingSeconds: number | null;
}

export async function convergenceGap(db: Kysely<any>, replicator: Replicator, integrationId: number): Promise<Gap> {
  const table = sql.table(replicator.name);
  const pendingWhere = replicator.pendingWhere ? sql.raw(replicator.pendingWhere) : sql`false`;
  const failedWhere = replicator.failedWhere ? sql.raw(replicator.failedWhere) : sql`false`;
  const { rows } = await sql<{ rows: number; pending: number; failed: number; oldest: number | null }>`
    SELECT
      (SELECT count(*) FROM ${table} WHERE integration_id = ${integrationId})::int AS rows,
      (SELECT count(*) FROM ${table} WHERE integration_id = ${integrationId} AND (${pendingWhere}))::int AS pending,
      (SELECT count(*) FROM ${table} WHERE integration_id = ${integrationId} AND (${failedWhere}))::int AS failed,
      (SELECT extract(epoch FROM now() - min(row_created_at))::float8 FROM ${table}
        WHERE integration_id = ${integrationId} AND (${pendingWhere})) AS oldest`.execute(db);
  const row = rows[0];
  return {
    rows: row?.rows ?? 0,
    pending: replicator.pendingWhere ? (row?.pending ?? 0) : null,
    failed: replicator.failedWhere ? (row?.failed ?? 0) : null,
    oldestPendingSeconds: row?.oldest ?? null,
  };
}
