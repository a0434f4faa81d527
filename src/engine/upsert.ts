/**
 * The one write path into replicator tables:
 *
 *   INSERT INTO <name> AS existing (integration_id, <remote key>, <columns>, data)
 *   VALUES ...
 *   ON CONFLICT (integration_id, <remote key>) DO UPDATE SET ... WHERE <updateWhere>
 *   RETURNING pk, <remote key>, (xmax = 0) AS inserted
 *
 * A row that comes back changed; one that does not was refused by the update
 * condition. Strings lose their NUL characters, which neither text nor jsonb can hold.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { upsertDuration } from '../metrics.ts';
import type { ColumnSpec, Replicator, RowInput, UpsertedRow } from './replicator.ts';

/** Rows per statement: keeps parameters far below Postgres' 65,535 limit. */
const BATCH_SIZE = 500;

/** Text Postgres accepts: no NUL (text and jsonb refuse it), no lone UTF-16 surrogate (jsonb refuses it). */
export function stripNul(value: unknown): unknown {
  if (typeof value === 'string') return (value.includes('\u0000') ? value.replaceAll('\u0000', '') : value).toWellFormed();
  if (Array.isArray(value)) return value.map(stripNul);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [stripNul(k) as string, stripNul(v)]));
  }
  return value;
}

function param(column: ColumnSpec, value: unknown): RawBuilder<unknown> {
  if (value === undefined || value === null) return sql`NULL::${sql.raw(column.type)}`;
  switch (column.type) {
    case 'jsonb':
      return sql`${JSON.stringify(stripNul(value))}::jsonb`;
    case 'text':
      return sql`${stripNul(String(value))}::text`;
    default:
      return sql`${value}::${sql.raw(column.type)}`;
  }
}

/** Last write wins within one call (Postgres refuses to update one row twice per statement). */
function dedupe(rows: readonly RowInput[]): RowInput[] {
  const byKey = new Map<string, RowInput>();
  for (const row of rows) byKey.set(stripNul(row.key) as string, { ...row, key: stripNul(row.key) as string });
  return [...byKey.values()];
}

/** Writing in key order keeps two concurrent upserts from deadlocking on each other's rows. */
const byKeyOrder = (a: RowInput, b: RowInput) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

function upsertStatement(replicator: Replicator, integrationId: number, rows: readonly RowInput[]): RawBuilder<{ pk: number; key: string; inserted: boolean }> {
  const remote = sql.ref(replicator.remoteKey);
  const names = ['integration_id', replicator.remoteKey, ...replicator.columns.map((c) => c.name), 'data'];
  const values = rows.map(
    (row) =>
      sql`(${integrationId}::bigint, ${row.key}::text, ${sql.join(
        [...replicator.columns.map((c) => param(c, row.columns[c.name])), sql`${JSON.stringify(stripNul(row.data) ?? null)}::jsonb`],
      )})`,
  );
  const sets = replicator.columns.map((c) =>
    c.onUpdate === 'coalesce'
      ? sql`${sql.ref(c.name)} = COALESCE(EXCLUDED.${sql.ref(c.name)}, existing.${sql.ref(c.name)})`
      : sql`${sql.ref(c.name)} = EXCLUDED.${sql.ref(c.name)}`,
  );
  const data = replicator.dataOnUpdate ?? 'replace';
  sets.push(
    data === 'replace' ? sql`data = EXCLUDED.data` : data === 'merge' ? sql`data = existing.data || EXCLUDED.data` : sql`data = ${sql.raw(data.sql)}`,
  );
  sets.push(sql`row_updated_at = now()`);
  return sql`
    INSERT INTO ${sql.table(replicator.name)} AS existing (${sql.join(names.map((n) => sql.ref(n)))})
    VALUES ${sql.join(values)}
    ON CONFLICT (integration_id, ${remote}) DO UPDATE SET ${sql.join(sets)}
    WHERE ${sql.raw(replicator.updateWhere)}
    RETURNING pk, ${remote} AS key, (xmax = 0) AS inserted`;
}

export async function upsertRows(
  db: Kysely<any>,
  replicator: Replicator,
  integrationId: number,
  rows: readonly RowInput[],
): Promise<UpsertedRow[]> {
  const unique = dedupe(rows);
  const sorted = [...unique].sort(byKeyOrder);
  const returned = new Map<string, { pk: number; inserted: boolean }>();
  for (let i = 0; i < sorted.length; i += BATCH_SIZE) {
    const timer = upsertDuration.startTimer({ service: replicator.name });
    const { rows: changed } = await upsertStatement(replicator, integrationId, sorted.slice(i, i + BATCH_SIZE)).execute(db);
    timer();
    for (const row of changed) returned.set(row.key, row);
  }
  // Results in the caller's order (first occurrence of each key).
  return unique.map((row) => {
    const hit = returned.get(row.key);
    return { ...row, changed: hit !== undefined, inserted: hit?.inserted ?? false, pk: hit?.pk ?? null };
  });
}
