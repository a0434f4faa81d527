/**
 * Once per `npm test`: a Postgres server (DATABASE_URL's, or an embedded one under
 * .switchboard/test with durability off, since its data is throwaway) and a template
 * database migrated once, engine plus the example replicators' tables. Each test file
 * clones the template (test/helpers/database.ts), so files run in parallel, isolated.
 * And the CLI's build of the sources as they are, which the tests that spawn
 * `bin/switchboard.js` run, as users do (built here once, not by each of them at once).
 */
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { currentBuild } from '../../bin/build.js';
import { createPool, wrapPool } from '../../src/db/connect.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/log.ts';
import { EXAMPLE_TABLES_SQL } from '../fixtures/example-replicators.ts';
import { recreateDatabase } from '../../src/db/databases.ts';
import { throwawayServer } from '../helpers/throwaway-postgres.ts';

export const TEMPLATE_DB = 'switchboard_test_template';

declare module 'vitest' {
  export interface ProvidedContext {
    pgServerUrl: string;
    templateDb: string;
  }
}

export default async function setup(project: TestProject) {
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
  await currentBuild();
  const server = await throwawayServer(path.resolve('.switchboard/test'), log);
  const templateUrl = await recreateDatabase(server.serverUrl, TEMPLATE_DB);
  const template = wrapPool(templateUrl, createPool(templateUrl, 3, log));
  try {
    await migrateToLatest(template.db, template.pool, log);
    await template.pool.query(EXAMPLE_TABLES_SQL);
  } finally {
    await template.close();
  }

  project.provide('pgServerUrl', server.serverUrl);
  project.provide('templateDb', TEMPLATE_DB);
  return () => server.release();
}
