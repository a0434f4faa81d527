/**
 * `switchboard sql "<query>"`: one statement, as the read-only role `switchboard_sql`
 * (src/db/reader-roles.ts: no writes, no server-side functions such as pg_read_file or
 * COPY TO PROGRAM, no advisory locks), in a READ ONLY transaction with a statement timeout,
 * reading at most SWITCHBOARD_SQL_MAX_ROWS rows through a cursor (so a huge result is
 * never loaded whole). The transaction is always rolled back.
 */
import type { Command } from 'commander';
import type pg from 'pg';
import { SwitchboardError } from '../../engine/errors.ts';
import { withRuntime, writeJson, writeLine, type CliContext } from '../context.ts';
import { formatTable } from '../table.ts';

export interface SqlResult {
  fields: string[];
  rows: Record<string, unknown>[];
  truncated: boolean;
}

/** SQLSTATEs of statements refused for what they would do: write (25006) or exceed the role's rights (42501). */
const REFUSED = new Set(['25006', '42501']);

export async function runReadOnlySql(client: pg.ClientBase, query: string, options: { timeoutMs: number; maxRows: number }): Promise<SqlResult> {
  const [{ default: Cursor }, { SQL_ROLE }] = await Promise.all([import('pg-cursor'), import('../../db/reader-roles.ts')]);
  try {
    await client.query('BEGIN READ ONLY');
    await client.query(`SET LOCAL statement_timeout = ${Math.floor(options.timeoutMs)}`);
    const cursor = client.query(new Cursor(query));
    try {
      const { rows, fields } = await new Promise<{ rows: Record<string, unknown>[]; fields: string[] }>((resolve, reject) =>
        cursor.read(options.maxRows + 1, (error, rows, result) =>
          error ? reject(error) : resolve({ rows, fields: (result?.fields ?? []).map((f) => f.name) }),
        ),
      );
      return { fields, rows: rows.slice(0, options.maxRows), truncated: rows.length > options.maxRows };
    } finally {
      await cursor.close().catch(() => undefined);
    }
  } catch (error) {
    if (REFUSED.has(String((error as { code?: string }).code))) {
      throw new SwitchboardError('SB_ERR_READ_ONLY', `refused: ${(error as Error).message} (switchboard sql is read-only: it runs as the role ${SQL_ROLE})`);
    }
    throw error;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

export function registerSql(program: Command, ctx: CliContext): void {
  program
    .command('sql')
    .description('run a read-only query on the replicated tables')
    .argument('<query>', 'one SQL statement')
    .option('--json', 'print rows as JSON')
    .action(async (query: string, options: { json?: boolean }) => {
      await withRuntime(ctx, async (rt) => {
        const { connectAsSqlRole } = await import('../../db/reader-roles.ts');
        const client = await connectAsSqlRole(rt.database.pool, rt.engine.db, rt.database.url, { timeoutMs: rt.config.sqlTimeoutMs });
        let result: SqlResult;
        try {
          result = await runReadOnlySql(client, query, { timeoutMs: rt.config.sqlTimeoutMs, maxRows: rt.config.sqlMaxRows });
        } finally {
          await client.end();
        }
        if (options.json) return writeJson(ctx, result);
        writeLine(ctx, formatTable(result.fields, result.rows.map((row) => result.fields.map((f) => row[f]))));
        const note = result.truncated ? ` (stopped at ${rt.config.sqlMaxRows}; set SWITCHBOARD_SQL_MAX_ROWS for more)` : '';
        writeLine(ctx, `(${result.rows.length} row${result.rows.length === 1 ? '' : 's'}${note})`);
      }, 'read');
    });
}
