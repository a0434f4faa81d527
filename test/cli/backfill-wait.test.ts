import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntegration } from '../../src/engine/integrations.ts';
import { startExampleSource, type ExampleSource } from '../fixtures/example-source.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { testEngine } from '../helpers/engine.ts';
import { queuedJobs } from '../helpers/jobs.ts';
import { spawnExampleCli, type Child } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
let source: ExampleSource;
const children: Child[] = [];

beforeAll(async () => {
  source = await startExampleSource();
  source.messages = Array.from({ length: 30 }, (_, i) => ({ id: `w${i}`, body: `b${i}`, version: 1 }));
  source.pageSize = 1;
  source.delayMs = 300;
});
afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await source.close();
});

const backfill = (...args: string[]) => {
  const child = spawnExampleCli(['backfill', ...args], { DATABASE_URL: database().url, LOG_LEVEL: 'warn' });
  children.push(child);
  return child;
};

describe('switchboard backfill --wait without a terminal', () => {
  it('says which pass it waits for, prints progress lines, and on Ctrl-C marks the run interrupted at once and says so', { timeout: 120_000 }, async () => {
    const engine = testEngine(database().db);
    const { integration } = await createIntegration(engine.db, engine.registry, engine.config, { service: 'example_message_v1', flags: { 'source-url': source.url } });

    // Another pass holds the integration: a session holds its lock, with its run recorded.
    const other = new pg.Client({ connectionString: database().url });
    await other.connect();
    await other.query('SELECT pg_advisory_lock($1::int, $2::int)', [0x5b02, integration.id]);
    const { rows } = await other.query<{ id: number }>(`INSERT INTO backfill_runs (integration_id, incremental, trigger, status) VALUES ($1, false, 'cron', 'running') RETURNING id::int`, [integration.id]);
    const child = backfill(String(integration.id), '--wait', '--progress-every', '1');
    await waitFor(() => child.output().includes(`example_message_v1 ${integration.id}: waiting for the pass already running (run ${rows[0]!.id}, cron, started`), { what: 'the waiting line' });
    await other.query(`UPDATE backfill_runs SET status = 'succeeded', finished_at = now() WHERE id = $1`, [rows[0]!.id]);
    await other.end();

    await waitFor(() => /example_message_v1 \d+: [1-9]\d*\/30 rows after \d+s/.test(child.output()), { timeoutMs: 30_000, what: 'a progress line' });
    child.process.kill('SIGINT');
    await waitFor(() => child.output().includes('Interrupted (SIGINT): run '), { what: 'the interrupt message' });
    // Marked before the message was printed, while the process still finishes its row.
    const run = await engine.db.selectFrom('backfill_runs').select(['status', 'error']).where('trigger', '=', 'cli').executeTakeFirstOrThrow();
    expect(run).toEqual({ status: 'failed', error: 'interrupted by SIGINT during `backfill --wait`' });
    expect(child.output()).toMatch(/rows it did not reach stay pending and a pass is queued for a worker/);

    expect(await child.exited).toBe(130);
    expect(child.output()).toMatch(/example_message_v1 \d+: interrupted, \d+ rows/);
    expect(source.requests.length).toBeLessThan(30);
    expect(await queuedJobs(engine.db)).toMatchObject([{ key: `backfill:${integration.id}`, locked: false }]);
    // The message the CLI wrote is kept when the pass ends.
    expect(await engine.db.selectFrom('backfill_runs').select('error').where('trigger', '=', 'cli').executeTakeFirstOrThrow()).toEqual({ error: run.error });
  });
});
