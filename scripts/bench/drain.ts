/**
 * 3. Drain, and 5a. memory during it: SMS replies left pending while no worker ran, then
 * `switchboard start` (a fresh process) delivers them: deliveries per second from the first
 * send to the last delivery, and the process's peak RSS. Baseline, same run: the same
 * SMS sends as raw undici requests to the same simulator, as many at a time as a pass sends
 * (SWITCHBOARD_DELIVERY_CONCURRENCY), to the same 500 clients.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { Agent, request } from 'undici';
import { DEMO_SUPPORT } from '../../src/demo/environment.ts';
import { loadConfig } from '../../src/config.ts';
import { CLIENTS, clientNumber, seedReplies, smsChannelId } from './seed.ts';
import { ratio, round } from './stats.ts';
import type { System } from './system.ts';

export interface DrainResult {
  drain_rows: number;
  drain_per_s: number;
  drain_baseline_per_s: number;
  drain_ratio: number;
  peak_rss_mb_drain: number;
}

/** Sends per second of `count` SMS posted straight to the simulator, `concurrency` at a time. */
async function rawSends(system: System, count: number, concurrency: number): Promise<number> {
  const { signalwire } = system;
  const url = `${signalwire.url}/api/laml/2010-04-01/Accounts/${signalwire.projectId}/Messages.json`;
  const authorization = `Basic ${Buffer.from(`${signalwire.projectId}:${signalwire.apiToken}`).toString('base64')}`;
  const dispatcher = new Agent();
  let next = 0;
  const started = performance.now();
  const sender = async () => {
    while (next < count) {
      const i = next++;
      const body = new URLSearchParams({ To: clientNumber(i, CLIENTS), From: DEMO_SUPPORT, Body: `reply ${i}`, StatusCallback: system.signalwireHook }).toString();
      const response = await request(url, { method: 'POST', dispatcher, headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body });
      await response.body.json();
      if (response.statusCode !== 201) throw new Error(`raw send answered ${response.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, sender));
  const perSecond = count / ((performance.now() - started) / 1000);
  await dispatcher.close();
  return perSecond;
}

export async function measureDrain(system: System, options: { rows: number }): Promise<DrainResult> {
  // A first start connects the Front channel; the rows then wait with no worker running.
  await system.start({ worker: false });
  await system.stop();
  await seedReplies(system, { count: options.rows, prefix: 'msg_drain', delivered: false, clients: CLIENTS });
  const integrationId = await smsChannelId(system);
  const pending = async () =>
    (
      await sql<{ n: number }>`SELECT count(*)::int AS n FROM front_signalwire_message_channel_app_v1
        WHERE integration_id = ${integrationId} AND delivery_status = 'pending'`.execute(system.engine.db)
    ).rows[0]!.n;

  const server = await system.start();
  let peak: number;
  try {
    const deadline = Date.now() + 300_000;
    while ((await pending()) > 0) {
      if (Date.now() > deadline) throw new Error('the drain did not finish in 5 minutes');
      await sleep(200);
    }
    peak = await system.peakRssMb();
  } finally {
    await server.stop();
  }
  const { rows } = await sql<{ seconds: number; delivered: number }>`
    SELECT extract(epoch FROM max(delivered_at) - min(send_started_at))::float8 AS seconds, count(*) FILTER (WHERE delivery_status = 'delivered')::int AS delivered
    FROM front_signalwire_message_channel_app_v1 WHERE integration_id = ${integrationId}`.execute(system.engine.db);
  const { seconds, delivered } = rows[0]!;
  if (delivered !== options.rows) throw new Error(`${delivered} of ${options.rows} rows delivered`);
  const ours = options.rows / seconds;
  // A pass sends to SWITCHBOARD_DELIVERY_CONCURRENCY conversations at a time: so does the baseline.
  const baseline = await rawSends(system, options.rows, loadConfig({}).deliveryConcurrency);
  return {
    drain_rows: options.rows,
    drain_per_s: round(ours, 0),
    drain_baseline_per_s: round(baseline, 0),
    drain_ratio: ratio(ours, baseline),
    peak_rss_mb_drain: round(peak, 0),
  };
}
