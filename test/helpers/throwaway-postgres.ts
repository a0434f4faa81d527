/**
 * Postgres for throwaway data (the test run, the soak): DATABASE_URL's server, or an embedded
 * one under `dataDir` with durability off. Databases on it: src/db/databases.ts.
 */
import { acquireEmbeddedPostgres } from '../../src/db/embedded-postgres.ts';
import type { Logger } from '../../src/log.ts';

export async function throwawayServer(dataDir: string, log: Logger): Promise<{ serverUrl: string; release(): Promise<void> }> {
  const embedded = process.env.DATABASE_URL
    ? null
    : await acquireEmbeddedPostgres({ dataDir, log, postgresFlags: ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off'] });
  return { serverUrl: process.env.DATABASE_URL ?? embedded!.urlFor('postgres'), release: async () => embedded?.release() };
}
