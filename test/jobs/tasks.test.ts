import { quickAddJob, runOnce } from 'graphile-worker';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.ts';
import { graphileLogger } from '../../src/jobs/graphile-logger.ts';
import { POLL_TASK, PRUNE_TASK, taskList } from '../../src/jobs/tasks.ts';
import { createIntegration } from '../../src/engine/integrations.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { createExamplePair, testEngine } from '../helpers/engine.ts';
import { queuedJobs } from '../helpers/jobs.ts';

const database = useTestDatabase();
let engine: Engine;

beforeAll(() => {
  engine = testEngine(database().db);
});

/** Queue one job and run it with our task list, as the worker would. */
async function runTask(task: string, tasks = taskList(engine, { webhookLogRetentionDays: 7 })) {
  await quickAddJob({ connectionString: database().url }, task, {});
  // Only the task under test may run: the backfills it queues stay queued for inspection.
  await runOnce({ connectionString: database().url, taskList: { [task]: tasks[task]! }, noHandleSignals: true, logger: graphileLogger(engine.log) });
}

describe(POLL_TASK, () => {
  it('asks for an incremental recursive pass of every integration whose replicator polls', async () => {
    const { messages } = await createExamplePair(engine);
    await runTask(POLL_TASK);
    expect(await queuedJobs(engine.db)).toMatchObject([
      { key: `backfill:${messages.id}`, payload: [{ integration_id: messages.id, incremental: true, recursive: true, trigger: 'cron' }] },
    ]);
  });
});

describe(PRUNE_TASK, () => {
  it('deletes webhook log entries older than the retention and keeps the rest', async () => {
    await sql`
      INSERT INTO webhook_log (received_at, route, method, status, duration_ms)
      SELECT now() - (d || ' days')::interval, '/x', 'POST', 202, 1 FROM generate_series(0, 9) AS d`.execute(engine.db);
    await runTask(PRUNE_TASK);
    const { rows } = await sql<{ days: number }>`SELECT round(extract(epoch FROM now() - received_at) / 86400)::int AS days FROM webhook_log ORDER BY 1`.execute(engine.db);
    expect(rows.map((r) => r.days)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('deletes closed USSD sessions past the retention, keeping open and recent ones', async () => {
    const { integration } = await createIntegration(engine.db, engine.registry, engine.config, { service: 'example_message_v1', flags: {} });
    await sql`
      INSERT INTO ussd_sessions (id, integration_id, gateway, msisdn_hash, status, closed_at, last_hop_at) VALUES
        ('old-closed', ${integration.id}, 'nalo', 'h', 'closed', now() - interval '8 days', now() - interval '8 days'),
        ('new-closed', ${integration.id}, 'nalo', 'h', 'closed', now() - interval '1 day', now() - interval '1 day'),
        ('open', ${integration.id}, 'nalo', 'h', 'open', NULL, now())`.execute(engine.db);
    await runTask(PRUNE_TASK);
    const { rows } = await sql<{ id: string }>`SELECT id FROM ussd_sessions ORDER BY id`.execute(engine.db);
    expect(rows.map((r) => r.id)).toEqual(['new-closed', 'open']);
  });
});
