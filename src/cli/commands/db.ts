/**
 * `switchboard db readonly-url`: a login for analysts that can only read — for `psql`,
 * BI tools or notebooks. Creates the role on first use and gives it a new password each
 * time (printing the URL is the only way to learn it), so running it again rolls it.
 * What the role may do is in src/db/reader-roles.ts.
 */
import type { Command } from 'commander';
import { withRuntime, writeJson, writeLine, type CliContext } from '../context.ts';

/** Said by `db readonly-url` and `doctor` where the migration could not revoke advisory locks from PUBLIC. */
export const ADVISORY_LOCK_WARNING =
  'every database role, the read-only one included, can take advisory locks here and could hold up webhooks: run `switchboard migrate` once as a superuser to revoke them (docs/operations.md)';

export function registerDb(program: Command, ctx: CliContext): void {
  const db = program.command('db').description('database access');
  db.command('readonly-url')
    .description('print a connection URL for a read-only analyst role (a new password each time)')
    .option('--json', 'print machine-readable JSON')
    .action(async (options: { json?: boolean }) => {
      const { ANALYST_ROLE, configureReaderRole, publicCanTakeAdvisoryLocks, readerUrl, setReaderPassword } = await import('../../db/reader-roles.ts');
      await withRuntime(ctx, async (rt) => {
        await configureReaderRole(rt.engine.db, ANALYST_ROLE, { timeoutMs: rt.config.sqlTimeoutMs });
        const url = readerUrl(rt.database.url, ANALYST_ROLE, await setReaderPassword(rt.engine.db, ANALYST_ROLE));
        const warnings = (await publicCanTakeAdvisoryLocks(rt.engine.db)) ? [ADVISORY_LOCK_WARNING] : [];
        for (const warning of warnings) ctx.stderr.write(`warning: ${warning}\n`);
        if (options.json) return writeJson(ctx, { role: ANALYST_ROLE, url, warnings });
        writeLine(ctx, url);
      });
    });
}
