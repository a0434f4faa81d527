/**
 * `switchboard sql "<query>"`: one statement, in a READ ONLY transaction with a
 * statement timeout, reading at most SWITCHBOARD_SQL_MAX_ROWS rows through a cursor
 * (so a huge result is never loaded whole). The transaction is always rolled back.
 */
import type { Command } from 'commander';
import type pg from 'pg';
import Cursor from 'pg-cursor';
import { SwitchboardError } from '../../engine/errors.ts';
import { withRuntime, writeJson, writeLine, type CliContext } from '../context.ts';
import { formatTable } from '../table.ts';

export interface SqlResult {
  fields: string[];
  rows: Record<string, unknown>[];
  truncated: boolean;
}

export async function runReadOnlySql(pool: pg.Pool, query: string, options: { timeoutMs: number; maxRows: number }): Promise<SqlResult> {
  const client = await pool.connect();
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
    if ((error as { code?: string }).code === '25006') {
      throw new SwitchboardError('SB_ERR_READ_ONLY', `refused: ${(error as Error).message} (switchboard sql is read-only)`);
    }
    throw error;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release();
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
        const result = await runReadOnlySql(rt.database.pool, query, { timeoutMs: rt.config.sqlTimeoutMs, maxRows: rt.config.sqlMaxRows });
        if (options.json) return writeJson(ctx, result);
        writeLine(ctx, formatTable(result.fields, result.rows.map((row) => result.fields.map((f) => row[f]))));
        const note = result.truncated ? ` (stopped at ${rt.config.sqlMaxRows}; set SWITCHBOARD_SQL_MAX_ROWS for more)` : '';
        writeLine(ctx, `(${result.rows.length} row${result.rows.length === 1 ? '' : 's'}${note})`);
      }, 'read');
    });
}
