/** `switchboard migrate`: bring the database to the latest schema (ours and graphile-worker's). */
import type { Command } from 'commander';
import { cliLogger, config, writeJson, writeLine, type CliContext } from '../context.ts';

export function registerMigrate(program: Command, ctx: CliContext): void {
  program
    .command('migrate')
    .description('apply pending migrations')
    .option('--json', 'print machine-readable JSON')
    .action(async (options: { json?: boolean }) => {
      const cfg = config(ctx);
      const log = await cliLogger(ctx, cfg, true);
      const [{ openDatabase }, { migrateToLatest }] = await Promise.all([import('../../db/connect.ts'), import('../../db/migrate.ts')]);
      const database = await openDatabase(cfg, log);
      try {
        const { applied } = await migrateToLatest(database.db, database.pool, log);
        if (options.json) writeJson(ctx, { applied });
        else writeLine(ctx, applied.length > 0 ? `Applied ${applied.join(', ')}.` : 'Already up to date.');
      } finally {
        await database.close();
      }
    });
}
