/**
 * 4. Scale: the cost of a pass must follow pending work, not history. With 100 pending
 * replies among N converged rows (N small, then N large), time the pending-row lookup and a
 * full backfill pass of the SMS channel (in this process, delivering to the simulator), and
 * show the lookup's plan: it must use the partial index on the pending condition.
 */
import { sql } from 'kysely';
import { SMS_CHANNEL_ID } from '../../src/demo/environment.ts';
import { runBackfillPass } from '../../src/engine/backfill-runner.ts';
import { pendingBatch } from '../../src/replicators/front-channel/deliver.ts';
import { seedReplies, smsChannelId } from './seed.ts';
import { median, ratio, round } from './stats.ts';
import type { System } from './system.ts';

export interface ScaleResult {
  scale_rows_small: number;
  scale_rows_large: number;
  scale_lookup_ms_10k: number;
  scale_lookup_ms_1m: number;
  scale_pass_ms_10k: number;
  scale_pass_ms_1m: number;
  scale_ratio: number;
  scale_lookup_ratio: number;
  scale_plan: string;
}

const PENDING = 100;

async function timePasses(system: System, integrationId: number, repetitions: number, tag: string): Promise<{ lookupMs: number; passMs: number }> {
  const integration = await system.engine.db.selectFrom('service_integrations').selectAll().where('id', '=', integrationId).executeTakeFirstOrThrow();
  const lookups: number[] = [];
  const passes: number[] = [];
  for (let rep = 0; rep < repetitions; rep++) {
    await seedReplies(system, { count: PENDING, prefix: `msg_${tag}${rep}_`, delivered: false });
    await sql`ANALYZE front_signalwire_message_channel_app_v1`.execute(system.engine.db);
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      await pendingBatch(integration, 0).execute(system.engine.db);
      lookups.push(performance.now() - started);
    }
    const started = performance.now();
    const outcome = await runBackfillPass(system.engine, integrationId, { incremental: true, recursive: false, trigger: 'bench' });
    passes.push(performance.now() - started);
    if (outcome.status !== 'succeeded' || outcome.rowsProcessed !== PENDING) throw new Error(`pass ${outcome.status}, ${JSON.stringify(outcome)}`);
  }
  return { lookupMs: median(lookups), passMs: median(passes) };
}

async function plan(system: System, integrationId: number): Promise<string> {
  const integration = await system.engine.db.selectFrom('service_integrations').selectAll().where('id', '=', integrationId).executeTakeFirstOrThrow();
  const compiled = pendingBatch(integration, 0).compile(system.engine.db);
  const { rows } = await system.database.pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${compiled.sql}`, [
    ...compiled.parameters,
  ]);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

export async function measureScale(system: System, options: { small: number; large: number; repetitions: number }): Promise<ScaleResult> {
  const integrationId = await smsChannelId(system);
  // Passes run in this process; Front's authorization request would only set the channel id.
  await system.engine.db.updateTable('service_integrations').set({ backfill_key: SMS_CHANNEL_ID }).where('id', '=', integrationId).execute();
  await seedReplies(system, { count: options.small, prefix: 'msg_old_a', delivered: true });
  const small = await timePasses(system, integrationId, options.repetitions, 's');
  await seedReplies(system, { count: options.large - options.small - options.repetitions * PENDING, prefix: 'msg_old_b', delivered: true });
  const large = await timePasses(system, integrationId, options.repetitions, 'l');
  // The plan with pending rows present, as a pass sees it.
  await seedReplies(system, { count: PENDING, prefix: 'msg_plan_', delivered: false });
  const shownPlan = await plan(system, integrationId);
  return {
    scale_rows_small: options.small,
    scale_rows_large: options.large,
    scale_lookup_ms_10k: round(small.lookupMs, 2),
    scale_lookup_ms_1m: round(large.lookupMs, 2),
    scale_pass_ms_10k: round(small.passMs, 1),
    scale_pass_ms_1m: round(large.passMs, 1),
    scale_ratio: ratio(large.passMs, small.passMs),
    scale_lookup_ratio: ratio(large.lookupMs, small.lookupMs),
    scale_plan: shownPlan,
  };
}
