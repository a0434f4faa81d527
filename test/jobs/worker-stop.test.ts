import { sql } from 'kysely';
import { describe, it } from 'vitest';
import { startWorker } from '../../src/jobs/worker.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { testEngine } from '../helpers/engine.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();

/** Server sessions on this database other than the test's own pool (application_name switchboard). */
const others = sql`FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> 'switchboard'`;

describe('stopping the worker', () => {
  it('has let go of its connections when stop() resolves: Postgres going away right after raises nothing', async () => {
    const engine = testEngine(database().db);
    const runner = await startWorker(engine, database().url, { workerConcurrency: 2, pollCron: '0 0 1 1 *', webhookLogRetentionDays: 7 });
    await waitFor(async () => (await sql<{ n: number }>`SELECT count(*)::int AS n ${others}`.execute(database().db)).rows[0]!.n > 0, { what: 'the worker to connect' });
    await runner.stop();
    // What stopping Postgres does to every session; a client still open would get an error nobody handles (an uncaught exception fails the run).
    await sql`SELECT pg_terminate_backend(pid) ${others}`.execute(database().db);
    for (let i = 0; i < 20; i++) await sql`SELECT 1`.execute(database().db);
  });
});
