/**
 * Once per `npm test`: a Postgres server (DATABASE_URL's, or an embedded one under
 * .switchboard/test with durability off, since its data is throwaway) and a template
 * database migrated once, engine plus the example replicators' tables. Each test file
 * clones the template (test/helpers/database.ts), so files run in parallel, isolated.
 */
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createPool, wrapPool } from '../../src/db/connect.ts';
import { acquireEmbeddedPostgres } from '../../src/db/embedded-postgres.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/log.ts';
import { EXAMPLE_TABLES_SQL } from '../fixtures/example-replicators.ts';
import { databaseUrl } from '../helpers/urls.ts';

export const TEMPLATE_DB = 'switchboard_test_template';

declare module 'vitest' {
  export interface ProvidedContext {
    pgServerUrl: string;
    templateDb: string;
  }
}

export default async function setup(project: TestProject) {
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const embedded = process.env.DATABASE_URL
    ? null
    : await acquireEmbeddedPostgres({
        dataDir: path.resolve('.switchboard/test'),
        log,
        postgresFlags: ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off'],
      });
  const serverUrl = process.env.DATABASE_URL ?? embedded!.urlFor('postgres');

  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const templateUrl = databaseUrl(serverUrl, TEMPLATE_DB);
  const template = wrapPool(templateUrl, createPool(templateUrl, 3, log));
  try {
    await migrateToLatest(template.db, template.pool, log);
    await template.pool.query(EXAMPLE_TABLES_SQL);
  } finally {
    await template.close();
  }

  project.provide('pgServerUrl', serverUrl);
  project.provide('templateDb', TEMPLATE_DB);
  return async () => {
    await embedded?.release();
  };
}
