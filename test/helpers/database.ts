/**
 * A fresh database per test file, cloned from the migrated template (fast: no
 * migrations per file), dropped when the file is done.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { createPool, wrapPool, type DatabaseHandle } from '../../src/db/connect.ts';
import { createLogger } from '../../src/log.ts';
import { databaseUrl } from '../../src/db/databases.ts';

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('pgServerUrl') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase extends DatabaseHandle {
  name: string;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `switchboard_test_${randomBytes(6).toString('hex')}`;
  // CREATE DATABASE ... TEMPLATE fails while anyone else is connected to the template.
  for (let attempt = 1; ; attempt++) {
    try {
      await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${inject('templateDb')}`));
      break;
    } catch (error) {
      if ((error as { code?: string }).code !== '55006' || attempt >= 20) throw error;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
  const url = databaseUrl(inject('pgServerUrl'), name);
  const handle = wrapPool(url, createPool(url, 10, createLogger('silent')));
  return { ...handle, name };
}

export async function dropTestDatabase(database: TestDatabase): Promise<void> {
  await database.close();
  await admin((c) => c.query(`DROP DATABASE IF EXISTS ${database.name} WITH (FORCE)`));
}

/** Registers beforeAll/afterAll hooks and returns a getter for the file's database. */
export function useTestDatabase(): () => TestDatabase {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    if (database) await dropTestDatabase(database);
  });
  return () => {
    if (!database) throw new Error('test database not ready: call inside a test or hook');
    return database;
  };
}
