/**
 * Checks at start-up that every registered replicator's table exists with the columns
 * its descriptor declares (payload and state columns alike), so a missing migration fails loudly at boot instead of as
 * a 500 on the first webhook.
 */
import { sql, type Kysely } from 'kysely';
import type { Registry } from './registry.ts';
import type { ColumnType, Replicator } from './replicator.ts';

const PG_TYPES: Record<ColumnType, string> = {
  text: 'text',
  timestamptz: 'timestamp with time zone',
  integer: 'integer',
  bigint: 'bigint',
  real: 'real',
  boolean: 'boolean',
  jsonb: 'jsonb',
  numeric: 'numeric',
};

export function expectedColumns(replicator: Replicator): Record<string, string> {
  return {
    pk: 'bigint',
    integration_id: 'bigint',
    [replicator.remoteKey]: 'text',
    ...Object.fromEntries([...replicator.columns, ...(replicator.stateColumns ?? [])].map((c) => [c.name, PG_TYPES[c.type]])),
    row_created_at: 'timestamp with time zone',
    row_updated_at: 'timestamp with time zone',
    data: 'jsonb',
  };
}

export async function tableProblems(db: Kysely<any>, replicator: Replicator): Promise<string[]> {
  const { rows } = await sql<{ column_name: string; data_type: string }>`
    SELECT column_name, data_type FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = ${replicator.name}`.execute(db);
  if (rows.length === 0) return [`table ${replicator.name} does not exist (run \`switchboard migrate\`)`];
  const actual = new Map(rows.map((r) => [r.column_name, r.data_type]));
  const problems: string[] = [];
  for (const [name, type] of Object.entries(expectedColumns(replicator))) {
    const found = actual.get(name);
    if (found === undefined) problems.push(`${replicator.name}.${name} is missing`);
    else if (found !== type) problems.push(`${replicator.name}.${name} is ${found}, expected ${type}`);
  }
  return problems;
}

export async function assertTables(db: Kysely<any>, registry: Registry): Promise<void> {
  const problems = (await Promise.all(registry.list().map((r) => tableProblems(db, r)))).flat();
  if (problems.length > 0) throw new Error(`replicator tables do not match their descriptors: ${problems.join('; ')}`);
}
