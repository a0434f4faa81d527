import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, wrapPool, type DatabaseHandle } from '../../src/db/connect.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { requestBackfill } from '../../src/engine/backfill-queue.ts';
import { createIntegration } from '../../src/engine/integrations.ts';
import { createLogger } from '../../src/log.ts';
import { EXAMPLE_TABLES_SQL } from '../fixtures/example-replicators.ts';
import { startExampleSource, type ExampleSource } from '../fixtures/example-source.ts';
import { removeDataDir, tempDataDir } from '../helpers/data-dir.ts';
import { testEngine } from '../helpers/engine.ts';
import { queuedJobs } from '../helpers/jobs.ts';
import { spawnExampleCli, spawnNode, type Child } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait.ts';

const dataDir = tempDataDir('shutdown');
const children: Child[] = [];
let source: ExampleSource;

/** Holds the embedded server (as another process of ours would) and opens a pool on it. */
async function hold(): Promise<{ holder: Child; database: DatabaseHandle }> {
  const holder = spawnNode(['--import', 'tsx', 'test/fixtures/embedded-client.ts', dataDir], { DATABASE_URL: undefined });
  children.push(holder);
  const line = await waitFor(() => holder.output().match(/^\{.*\}$/m)?.[0], { timeoutMs: 60_000, what: 'embedded server' });
  const { port } = JSON.parse(line) as { port: number };
  const { password } = JSON.parse(await fs.readFile(path.join(dataDir, 'cluster.json'), 'utf8')) as { password: string };
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/switchboard`;
  return { holder, database: wrapPool(url, createPool(url, 3, createLogger('silent'))) };
}

async function letGo({ holder, database }: { holder: Child; database: DatabaseHandle }): Promise<void> {
  await database.close();
  holder.process.stdin!.write('release\n');
  expect(await holder.exited).toBe(0);
}

beforeAll(async () => {
  source = await startExampleSource();
  source.messages = Array.from({ length: 20 }, (_, i) => ({ id: `s${i}`, body: `b${i}`, version: 1 }));
  source.pageSize = 1;
  source.delayMs = 1000;
});
afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await source.close();
  await removeDataDir(dataDir);
});

describe('stopping a worker on embedded Postgres with a pass in flight', () => {
  it('says what it waits for, stops the pass within the grace period, exits 0 and leaves no running run', { timeout: 180_000 }, async () => {
    const held = await hold();
    await migrateToLatest(held.database.db, held.database.pool, createLogger('silent'));
    await held.database.pool.query(EXAMPLE_TABLES_SQL);
    const engine = testEngine(held.database.db);
    const { integration } = await createIntegration(engine.db, engine.registry, engine.config, { service: 'example_message_v1', flags: { 'source-url': source.url } });

    const worker = spawnExampleCli(['worker'], { DATABASE_URL: undefined, SWITCHBOARD_DATA_DIR: dataDir, SWITCHBOARD_POLL_CRON: '0 0 1 1 *', LOG_LEVEL: 'warn' });
    children.push(worker);
    await waitFor(() => worker.output().includes('worker running'), { timeoutMs: 60_000, what: 'worker start' });
    await requestBackfill(engine.db, integration.id, { trigger: 'test' });
    await waitFor(() => engine.db.selectFrom('backfill_runs').select('id').where('status', '=', 'running').executeTakeFirst(), { what: 'a pass to start' });
    // The worker is now the embedded server's only user: it stops Postgres on its way out.
    await letGo(held);

    const code = await worker.stop('SIGTERM');
    const output = worker.output();
    expect(code, output).toBe(0);
    expect(output).toMatch(/stopping \(SIGTERM\): waiting for 1 backfill pass \(example_message_v1 \d+\) to finish/);
    expect(output).not.toMatch(/Connection terminated|at .*\.(ts|js):\d+/);
    // Fewer pages were fetched than a whole pass takes: the pass was asked to stop.
    expect(source.requests.length).toBeLessThan(source.messages.length);

    const after = await hold();
    try {
      const runs = await after.database.db.selectFrom('backfill_runs').select(['status', 'error']).execute();
      expect(runs).toEqual([{ status: 'failed', error: expect.stringContaining('interrupted: the process was stopping') }]);
      // An interruption is not the integration's fault: no error state to fix.
      const stored = await after.database.db.selectFrom('service_integrations').select('last_error_code').where('id', '=', integration.id).executeTakeFirstOrThrow();
      expect(stored.last_error_code).toBeNull();
      // ...and the pass is asked for again, for the next worker.
      expect(await queuedJobs(after.database.db)).toMatchObject([{ key: `backfill:${integration.id}`, locked: false }]);
    } finally {
      await letGo(after);
    }
  });
});
