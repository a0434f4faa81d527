/**
 * Everything a command needs to work on the database, opened in one place: config,
 * logger, connection (embedded Postgres unless DATABASE_URL), and the Engine handed to
 * routes, jobs and CLI commands. `close()` undoes it all, stopping the embedded server
 * when this was its last user.
 *
 * Modes: `migrate` makes the embedded cluster if there is none and migrates (servers,
 * commands that write); `read` uses only what exists and refuses an unmigrated database;
 * `inspect` (doctor) uses only what exists, migrated or not, and checks nothing itself.
 */
import type { Config } from './config.ts';
import { openDatabase, type DatabaseHandle } from './db/connect.ts';
import { migrateToLatest, migrationState } from './db/migrate.ts';
import { SwitchboardError } from './engine/errors.ts';
import type { Engine } from './engine/engine.ts';
import { IntegrationCache } from './engine/integration-cache.ts';
import type { Registry } from './engine/registry.ts';
import { assertTables } from './engine/table-check.ts';
import { redactUrl, type Logger } from './log.ts';

export interface Runtime {
  config: Config;
  log: Logger;
  database: DatabaseHandle;
  engine: Engine;
  close(): Promise<void>;
}

export type RuntimeMode = 'migrate' | 'read' | 'inspect';

export async function openRuntime(options: { config: Config; log: Logger; registry: Registry; mode: RuntimeMode }): Promise<Runtime> {
  const { config, log, registry, mode } = options;
  const database = await openDatabase(config, log, { create: mode === 'migrate' });
  try {
    if (mode === 'migrate') {
      log.info('migrating the database');
      const { applied } = await migrateToLatest(database.db, database.pool, log);
      log.info({ applied: applied.length }, applied.length > 0 ? 'database migrated' : 'database up to date');
    }
    if (mode === 'read') {
      const { applied, total } = await migrationState(database.db);
      if (applied < total) {
        const where = config.databaseUrl ? `the database at ${redactUrl(config.databaseUrl)}` : `the database in ${config.dataDir}`;
        throw new SwitchboardError('SB_ERR_NOT_SET_UP', `${where} is not migrated (${applied} of ${total} migrations applied): run \`npx switchboard migrate\``);
      }
    }
    if (mode !== 'inspect') await assertTables(database.db, registry);
  } catch (error) {
    await database.close();
    throw error;
  }
  // The cache listens only once a lookup needs it: commands that serve no webhooks never connect it.
  const integrations = new IntegrationCache(database.url, log);
  const engine: Engine = { db: database.db, registry, log, config, integrations };
  const close = async () => {
    await integrations.close();
    await database.close();
  };
  return { config, log, database, engine, close };
}
