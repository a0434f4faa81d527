import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceIntegration } from '../../src/db/schema.ts';
import { requestBackfill } from '../../src/engine/backfill-queue.ts';
import { createIntegration } from '../../src/engine/integrations.ts';
import { startExampleSource, type ExampleSource } from '../fixtures/example-source.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { testEngine } from '../helpers/engine.ts';
import { queuedJobs } from '../helpers/jobs.ts';
import { spawnExampleCli, type Child } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
let source: ExampleSource;
const workers: Child[] = [];

beforeAll(async () => {
  source = await startExampleSource();
  source.messages = Array.from({ length: 6 }, (_, i) => ({ id: `p${i}`, body: `b${i}`, version: 1 }));
  source.delayMs = 60;
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await source.close();
});

describe('two worker processes on one database', () => {
  it('never run the same integration twice at once, and honour every request', async () => {
    const engine = testEngine(database().db);
    const integrations: ServiceIntegration[] = [];
    for (let i = 0; i < 2; i++) {
      const { integration } = await createIntegration(engine.db, engine.registry, engine.config, { service: 'example_message_v1', flags: { 'source-url': source.url } });
      integrations.push(integration);
    }
    const env = { DATABASE_URL: database().url, SWITCHBOARD_WORKER_CONCURRENCY: '4', LOG_LEVEL: 'warn', SWITCHBOARD_POLL_CRON: '0 0 1 1 *' };
    workers.push(spawnExampleCli(['worker'], env), spawnExampleCli(['worker'], env));
    await Promise.all(workers.map((w) => waitFor(() => w.output().includes('worker running'), { what: 'worker start' })));

    let lastRequestAt = new Date(0);
    for (let round = 0; round < 8; round++) {
      for (const integration of integrations) await requestBackfill(engine.db, integration.id, { incremental: false, trigger: `r${round}` });
      lastRequestAt = new Date();
      await new Promise((r) => setTimeout(r, 120));
    }
    await waitFor(
      async () => {
        const running = await engine.db.selectFrom('backfill_runs').select('id').where('status', '=', 'running').execute();
        return (await queuedJobs(engine.db)).length === 0 && running.length === 0;
      },
      { timeoutMs: 60_000, what: 'all passes to finish' },
    );

    for (const integration of integrations) {
      expect(source.maxInFlight[`/messages:${integration.id}`]).toBe(1);
      const runs = await engine.db.selectFrom('backfill_runs').selectAll().where('integration_id', '=', integration.id).orderBy('started_at').execute();
      expect(runs.every((r) => r.status === 'succeeded')).toBe(true);
      for (let i = 1; i < runs.length; i++) expect(runs[i]!.started_at.getTime()).toBeGreaterThanOrEqual(runs[i - 1]!.finished_at!.getTime());
      // The last request was not dropped: a pass started after it.
      expect(runs.at(-1)!.started_at.getTime()).toBeGreaterThanOrEqual(lastRequestAt.getTime() - 5);
      // Requests made during a pass coalesce: far fewer passes than requests.
      expect(runs.length).toBeLessThan(8);
    }
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM example_message_v1`.execute(engine.db);
    expect(rows[0]!.n).toBe(12);

    const codes = await Promise.all(workers.splice(0).map((w) => w.stop('SIGTERM')));
    expect(codes).toEqual([0, 0]);
  });
});
