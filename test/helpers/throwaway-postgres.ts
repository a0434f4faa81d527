/**
 * Postgres for throwaway data (the test run, the soak): DATABASE_URL's server, or an embedded
 * one under `dataDir` with durability off; and databases on it made afresh.
 */
import pg from 'pg';
import { acquireEmbeddedPostgres } from '../../src/db/embedded-postgres.ts';
import type { Logger } from '../../src/log.ts';
import { databaseUrl } from './urls.ts';

export async function throwawayServer(dataDir: string, log: Logger): Promise<{ serverUrl: string; release(): Promise<void> }> {
  const embedded = process.env.DATABASE_URL
    ? null
    : await acquireEmbeddedPostgres({ dataDir, log, postgresFlags: ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off'] });
  return { serverUrl: process.env.DATABASE_URL ?? embedded!.urlFor('postgres'), release: async () => embedded?.release() };
}

async function admin(serverUrl: string, statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Drop `name` if it exists, create it empty, and return its URL. */
export async function freshDatabase(serverUrl: string, name: string): Promise<string> {
  await admin(serverUrl, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `CREATE DATABASE ${name}`]);
  return databaseUrl(serverUrl, name);
}

export const dropDatabase = (serverUrl: string, name: string) => admin(serverUrl, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
