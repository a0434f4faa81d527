/**
 * 5b. Memory while polling: the simulated SignalWire holds N messages; a full backfill of the
 * SignalWire integration pages through all of them (100 per page) in a fresh
 * `switchboard start`. Pages must be stored as they come, not gathered: the process's peak
 * RSS should not grow with N. Also reports messages stored per second.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { requestBackfill } from '../../src/engine/backfill-queue.ts';
import { round } from './stats.ts';
import type { System } from './system.ts';

export interface PollResult {
  poll_messages: number;
  poll_per_s: number;
  peak_rss_mb_poll: number;
}

export async function measurePoll(system: System, options: { messages: number }): Promise<PollResult> {
  const { signalwire, integrations } = system;
  // Between numbers other than the channels' own, as most of a shared project's traffic is.
  const now = Date.now();
  for (let i = 0; i < options.messages; i++) {
    signalwire.addMessage({ from: `+1555100${String(i % 10_000).padStart(4, '0')}`, to: '+15552000000', body: `poll ${i}`, dateCreated: new Date(now - i * 10) });
  }
  const server = await system.start();
  try {
    await requestBackfill(system.engine.db, integrations.sw.id, { incremental: false, recursive: false, trigger: 'bench' });
    const deadline = Date.now() + 600_000;
    for (;;) {
      const run = await system.engine.db
        .selectFrom('backfill_runs')
        .select(['status', 'rows_processed', 'error', 'started_at', 'finished_at'])
        .where('integration_id', '=', integrations.sw.id)
        .where('trigger', '=', 'bench')
        .executeTakeFirst();
      if (run?.status === 'failed') throw new Error(`the polling pass failed: ${run.error}`);
      if (run?.status === 'succeeded') {
        if (run.rows_processed !== options.messages) throw new Error(`the pass read ${run.rows_processed} of ${options.messages} messages`);
        const seconds = (run.finished_at!.getTime() - run.started_at.getTime()) / 1000;
        return { poll_messages: options.messages, poll_per_s: round(options.messages / seconds, 0), peak_rss_mb_poll: round(await system.peakRssMb(), 0) };
      }
      if (Date.now() > deadline) throw new Error('the polling pass did not finish in 10 minutes');
      await sleep(250);
    }
  } finally {
    await server.stop();
  }
}
