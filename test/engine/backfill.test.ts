import { sql } from 'kysely';
import type { Runner } from 'graphile-worker';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceIntegration } from '../../src/db/schema.ts';
import { mergeRequests, requestBackfill, WHILE_RUNNING_DELAY_S } from '../../src/engine/backfill-queue.ts';
import { runBackfillPass } from '../../src/engine/backfill-runner.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { startWorker } from '../../src/jobs/worker.ts';
import { Registry } from '../../src/engine/registry.ts';
import { defineReplicator } from '../../src/engine/replicator.ts';
import { exampleDelivery, exampleMessage } from '../fixtures/example-replicators.ts';
import { startExampleSource, type ExampleSource } from '../fixtures/example-source.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { createExamplePair, testEngine } from '../helpers/engine.ts';
import { queuedJobs } from '../helpers/jobs.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
let engine: Engine;
let source: ExampleSource;
let messages: ServiceIntegration;
let deliveries: ServiceIntegration;
let runner: Runner | null = null;

const FULL = { incremental: false, recursive: false, trigger: 'test' };
const runsOf = (integrationId: number) =>
  engine.db.selectFrom('backfill_runs').selectAll().where('integration_id', '=', integrationId).orderBy('id').execute();
const integration = (id: number) => engine.db.selectFrom('service_integrations').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

beforeAll(async () => {
  engine = testEngine(database().db);
  source = await startExampleSource();
});
afterAll(() => source.close());

beforeEach(async () => {
  ({ messages, deliveries } = await createExamplePair(engine, source.url));
  source.messages = Array.from({ length: 5 }, (_, i) => ({ id: `m${i}`, body: `body ${i}`, version: 1 }));
  Object.assign(source, { requests: [], deliveries: [], maxInFlight: {}, delayMs: 0, failWith: null });
});
afterEach(async () => {
  await runner?.stop();
  runner = null;
  await sql`DELETE FROM graphile_worker._private_jobs`.execute(engine.db);
});

describe('a backfill pass', () => {
  it('pages through the source, stores every item and records the run', async () => {
    const outcome = await runBackfillPass(engine, messages.id, FULL);
    expect(outcome).toMatchObject({ status: 'succeeded', rowsProcessed: 5 });
    expect(source.requests.filter((r) => r.path === '/messages')).toHaveLength(3);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM example_message_v1 WHERE integration_id = ${messages.id}`.execute(engine.db);
    expect(rows[0]!.n).toBe(5);
    expect(await runsOf(messages.id)).toMatchObject([{ status: 'succeeded', rows_processed: 5, rows_total: 5, trigger: 'test' }]);
    const after = await integration(messages.id);
    expect(after.last_backfilled_at).toBeInstanceOf(Date);
    expect(after.last_error_code).toBeNull();
  });

  it('hands the incremental cursor to backfillers only on incremental passes', async () => {
    const seen: (Date | null)[] = [];
    const spy = defineReplicator({
      ...exampleMessage,
      backfillers: () => [{ name: 'spy', run: async (ctx) => void seen.push(ctx.lastBackfilledAt) }],
    });
    const spyEngine = { ...engine, registry: new Registry([spy, exampleDelivery]) };
    await runBackfillPass(spyEngine, messages.id, FULL);
    await runBackfillPass(spyEngine, messages.id, { ...FULL, incremental: true });
    expect(seen[0]).toBeNull();
    expect(seen[1]).toEqual((await runsOf(messages.id))[0]!.started_at);
  });

  it('records a rejected credential as the integration error state without asking for a retry', async () => {
    source.failWith = 401;
    const outcome = await runBackfillPass(engine, messages.id, FULL);
    expect(outcome).toMatchObject({ status: 'failed', retryable: false });
    expect(await integration(messages.id)).toMatchObject({ last_error_code: 'SB_ERR_PROVIDER_AUTH', last_backfilled_at: null });
    source.failWith = null;
    await runBackfillPass(engine, messages.id, FULL);
    expect(await integration(messages.id)).toMatchObject({ last_error_code: null, last_error_message: null });
  });

  it('reports server errors as retryable', async () => {
    source.failWith = 500;
    expect(await runBackfillPass(engine, messages.id, FULL)).toMatchObject({ status: 'failed', retryable: true });
    expect((await runsOf(messages.id))[0]).toMatchObject({ status: 'failed', error: 'source answered 500' });
  });

  it('marks a run left running by a dead process as abandoned', async () => {
    await engine.db.insertInto('backfill_runs').values({ integration_id: messages.id, incremental: false, trigger: 'x', status: 'running' }).execute();
    await runBackfillPass(engine, messages.id, FULL);
    expect((await runsOf(messages.id)).map((r) => r.status)).toEqual(['failed', 'succeeded']);
  });

  it('returns `locked` while another pass of the same integration runs', async () => {
    source.delayMs = 150;
    const first = runBackfillPass(engine, messages.id, FULL);
    await waitFor(async () => (await runsOf(messages.id)).length === 1, { what: 'first pass to start' });
    expect(await runBackfillPass(engine, messages.id, FULL)).toEqual({ status: 'locked' });
    expect(await runBackfillPass(engine, deliveries.id, FULL)).toMatchObject({ status: 'succeeded' });
    expect(await first).toMatchObject({ status: 'succeeded' });
  });
});

describe('backfill requests', () => {
  it('collapse into one job while none runs, keeping every request', async () => {
    await requestBackfill(engine.db, messages.id, { incremental: true, trigger: 'cron' });
    await requestBackfill(engine.db, messages.id, { incremental: true, trigger: 'webhook' });
    await requestBackfill(engine.db, messages.id, { incremental: false, recursive: true, trigger: 'cli' });
    const jobs = await queuedJobs(engine.db);
    expect(jobs).toHaveLength(1);
    const payload = jobs[0]!.payload as Parameters<typeof mergeRequests>[0];
    expect(payload.map((p) => p.trigger)).toEqual(['cron', 'webhook', 'cli']);
    expect(mergeRequests(payload)).toEqual({ incremental: false, recursive: true, trigger: 'cli,cron,webhook' });
    // A pass's request and one left for it may each be merged already: each trigger once.
    const merged = { incremental: true, recursive: false, trigger: 'cron,webhook' };
    expect(mergeRequests([merged, { ...merged, trigger: 'cli,webhook' }]).trigger).toBe('cli,cron,webhook');
  });

  it('made while a pass runs cause exactly one more pass, never concurrently', async () => {
    source.delayMs = 200;
    runner = await startWorker(engine, database().url, { workerConcurrency: 3, pollCron: '0 0 1 1 *', webhookLogRetentionDays: 7 });
    await requestBackfill(engine.db, messages.id, { incremental: false, trigger: 'first' });
    await waitFor(async () => (await runsOf(messages.id)).some((r) => r.status === 'running'), { what: 'first pass running' });
    for (const trigger of ['second', 'third', 'fourth']) await requestBackfill(engine.db, messages.id, { incremental: false, trigger });
    await waitFor(async () => (await queuedJobs(engine.db)).length === 0 && (await runsOf(messages.id)).every((r) => r.status !== 'running'), {
      what: 'queue to drain',
    });
    const runs = await runsOf(messages.id);
    expect(runs.map((r) => [r.status, r.trigger])).toEqual([
      ['succeeded', 'first'],
      ['succeeded', 'fourth,second,third'],
    ]);
    expect(runs[1]!.started_at.getTime()).toBeGreaterThanOrEqual(runs[0]!.finished_at!.getTime());
    expect(source.maxInFlight[`/messages:${messages.id}`]).toBe(1);
  });

  it('made while a pass runs are queued a moment ahead, the job written once, not taken at once to find the lock held', async () => {
    await requestBackfill(engine.db, messages.id, { incremental: true, trigger: 'first' });
    const dueIn = async () =>
      (
        await sql<{ key: string | null; seconds: number; revision: number; locked: boolean }>`
          SELECT key, extract(epoch FROM run_at - now())::float8 AS seconds, revision, locked_at IS NOT NULL AS locked
          FROM graphile_worker._private_jobs ORDER BY id`.execute(engine.db)
      ).rows;
    expect((await dueIn())[0]!.seconds).toBeLessThanOrEqual(0); // none runs: due at once
    // A worker takes it (its pass running).
    await sql`UPDATE graphile_worker._private_jobs SET locked_at = now(), locked_by = 'test-worker'`.execute(engine.db);
    // Webhooks under load: the same request again and again.
    for (let n = 0; n < 3; n++) await requestBackfill(engine.db, messages.id, { incremental: true, trigger: 'webhook' });
    const [running, next] = await dueIn();
    expect(running).toMatchObject({ key: null, locked: true });
    expect(next).toMatchObject({ key: `backfill:${messages.id}`, locked: false, revision: 0 });
    expect(next!.seconds).toBeGreaterThan(0);
    expect(next!.seconds).toBeLessThanOrEqual(WHILE_RUNNING_DELAY_S);
    // The pass ends: a request no longer waits for the moment ahead, it brings the job forward.
    await sql`DELETE FROM graphile_worker._private_jobs WHERE locked_at IS NOT NULL`.execute(engine.db);
    await requestBackfill(engine.db, messages.id, { incremental: true, trigger: 'webhook' });
    expect((await dueIn())[0]!.seconds).toBeLessThanOrEqual(0);
  });

  it('made while a pass runs are run by that pass as one more at its end, the queued job taken off the queue', async () => {
    source.delayMs = 150;
    const first = runBackfillPass(engine, messages.id, FULL);
    await waitFor(async () => (await runsOf(messages.id)).length === 1, { what: 'first pass to start' });
    // Its job, as a worker holds it.
    await sql`SELECT graphile_worker.add_job('backfill', ${JSON.stringify([{ integration_id: messages.id }])}::json)`.execute(engine.db);
    await sql`UPDATE graphile_worker._private_jobs SET locked_at = now(), locked_by = 'test-worker'`.execute(engine.db);
    for (let n = 0; n < 2; n++) await requestBackfill(engine.db, messages.id, { incremental: true, trigger: 'webhook' });
    expect((await queuedJobs(engine.db)).filter((j) => j.key === `backfill:${messages.id}`)).toHaveLength(1);
    expect(await first).toMatchObject({ status: 'succeeded' });
    expect((await runsOf(messages.id)).map((r) => [r.status, r.trigger])).toEqual([
      ['succeeded', 'test'],
      ['succeeded', 'webhook'],
    ]);
    expect((await queuedJobs(engine.db)).filter((j) => j.key === `backfill:${messages.id}`)).toEqual([]);
    // The messages' deliveries are left pending: delivered here, not by the next test's worker at its start.
    await runBackfillPass(engine, deliveries.id, FULL);
  });

  it('recursive passes run the dependents after, which deliver each pending row once', async () => {
    runner = await startWorker(engine, database().url, { workerConcurrency: 2, pollCron: '0 0 1 1 *', webhookLogRetentionDays: 7 });
    await requestBackfill(engine.db, messages.id, { incremental: false, recursive: true, trigger: 'cli' });
    await waitFor(async () => {
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM example_delivery_v1 WHERE integration_id = ${deliveries.id} AND delivered_id IS NOT NULL`.execute(engine.db);
      return rows[0]!.n === 5;
    }, { what: 'all deliveries' });
    expect(source.deliveries.map((d) => d.message_id).sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);

    // Another full recursive pass finds nothing to deliver: rows are frozen, sends are once-ever.
    await requestBackfill(engine.db, messages.id, { incremental: false, recursive: true, trigger: 'cli' });
    await waitFor(async () => (await runsOf(deliveries.id)).filter((r) => r.status === 'succeeded').length >= 2 && (await queuedJobs(engine.db)).length === 0, {
      what: 'second round',
    });
    expect(source.deliveries).toHaveLength(5);
  });
});
