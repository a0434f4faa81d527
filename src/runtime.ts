/**
 * Everything a command needs to work on the database, opened in one place: config,
 * logger, connection (embedded Postgres unless DATABASE_URL), migrations when asked,
 * and the Engine handed to routes, jobs and CLI commands. `close()` undoes it all,
 * stopping the embedded server when this was its last user.
 */
import type { Config } from './config.ts';
import { openDatabase, type DatabaseHandle } from './db/connect.ts';
import { migrateToLatest } from './db/migrate.ts';
import type { Engine } from './engine/ingest.ts';
import type { Registry } from './engine/registry.ts';
import { assertTables } from './engine/table-check.ts';
import type { Logger } from './log.ts';

export interface Runtime {
  config: Config;
  log: Logger;
  database: DatabaseHandle;
  engine: Engine;
  close(): Promise<void>;
}

export async function openRuntime(options: { config: Config; log: Logger; registry: Registry; migrate: boolean }): Promise<Runtime> {
  const { config, log, registry } = options;
  const database = await openDatabase(config, log);
  try {
    if (options.migrate) await migrateToLatest(database.db, database.pool, log);
    await assertTables(database.db, registry);
  } catch (error) {
    await database.close();
    throw error;
  }
  const engine: Engine = { db: database.db, registry, log, config };
  return { config, log, database, engine, close: () => database.close() };
}
