/**
 * 3. Drain, and 5a. memory during it: SMS replies left pending while no worker ran, then
 * `switchboard start` (a fresh process) delivers them: deliveries per second from the first
 * send to the last delivery, and the process's peak RSS. Baseline, same run: the same
 * SMS sends as raw undici requests to the same simulator, as many at a time as a pass sends
 * (SWITCHBOARD_DELIVERY_CONCURRENCY), to the same 500 clients. 3b: the same drain against
 * a rate-limited SignalWire.
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

/**
 * `rows` SMS replies to CLIENTS clients left pending while no worker ran (a first start
 * connects the Front channel), then `switchboard start` (a fresh process) until none is
 * pending or `timeoutS` passed. Returns the running server's peak RSS, how many were
 * delivered, the first send's start and the last delivery (epoch ms, as the rows say).
 */
async function drainBacklog(
  system: System,
  options: { rows: number; timeoutS: number },
): Promise<{ peakMb: number; delivered: number; firstStartedAt: number | null; lastDeliveredAt: number | null }> {
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
  let peakMb: number;
  try {
    const deadline = Date.now() + options.timeoutS * 1000;
    while ((await pending()) > 0 && Date.now() < deadline) await sleep(200);
    peakMb = await system.peakRssMb();
  } finally {
    await server.stop();
  }
  const { rows } = await sql<{ delivered: number; first: Date | null; last: Date | null }>`
    SELECT count(*) FILTER (WHERE delivery_status = 'delivered')::int AS delivered, min(send_started_at) AS first, max(delivered_at) AS last
    FROM front_signalwire_message_channel_app_v1 WHERE integration_id = ${integrationId}`.execute(system.engine.db);
  const { delivered, first, last } = rows[0]!;
  return { peakMb, delivered, firstStartedAt: first?.getTime() ?? null, lastDeliveredAt: last?.getTime() ?? null };
}

export async function measureDrain(system: System, options: { rows: number }): Promise<DrainResult> {
  const { peakMb, delivered, firstStartedAt, lastDeliveredAt } = await drainBacklog(system, { rows: options.rows, timeoutS: 300 });
  if (delivered !== options.rows) throw new Error(`${delivered} of ${options.rows} rows delivered in 5 minutes`);
  const ours = options.rows / ((lastDeliveredAt! - firstStartedAt!) / 1000);
  // A pass sends to SWITCHBOARD_DELIVERY_CONCURRENCY conversations at a time: so does the baseline.
  const baseline = await rawSends(system, options.rows, loadConfig({}).deliveryConcurrency);
  return {
    drain_rows: options.rows,
    drain_per_s: round(ours, 0),
    drain_baseline_per_s: round(baseline, 0),
    drain_ratio: ratio(ours, baseline),
    peak_rss_mb_drain: round(peakMb, 0),
  };
}

export interface RateLimitedDrainResult {
  drain_rate_limited_rows: number;
  drain_rate_limited_delivered: number;
  drain_rate_limit_per_s: number;
  drain_rate_limited_per_s: number;
  drain_rate_limited_ratio: number;
  drain_rate_limited_429s: number;
}

/**
 * 3b. The same drain against a SignalWire that allows `perSecond` sends a second from the
 * helpline's number and answers 429 (Retry-After: 1) beyond: deliveries per second from the
 * first send to the last delivery, over the allowed rate, and the 429s after the first
 * second (a client that knows the limit gets none). Waits at most three times the ideal
 * drain, plus 15 s; a drain unfinished by then is rated by what it delivered meanwhile.
 */
export async function measureRateLimitedDrain(system: System, options: { rows: number; perSecond: number }): Promise<RateLimitedDrainResult> {
  const { signalwire } = system;
  signalwire.faults.rateLimit = { perSecond: options.perSecond, per: 'sender' };
  // Told the limit, as an operator would (`integrations update <signalwire> --send-rate <n>`).
  await sql`UPDATE service_integrations SET settings = settings || jsonb_build_object('send_rate', ${String(options.perSecond)}::text)
    WHERE service_name = 'signalwire_message_v1'`.execute(system.engine.db);
  const timeoutS = (3 * options.rows) / options.perSecond + 15;
  const { delivered, lastDeliveredAt } = await drainBacklog(system, { rows: options.rows, timeoutS });
  const stoppedAt = Date.now();
  // The provider's first send, not the rows': a send refused by a 429 is tried again later.
  const firstSend = signalwire.requests.find((r) => r.method === 'POST')?.at.getTime();
  if (firstSend === undefined) throw new Error('no SMS was sent');
  const end = delivered === options.rows ? lastDeliveredAt! : stoppedAt;
  const achieved = delivered / ((end - firstSend) / 1000);
  return {
    drain_rate_limited_rows: options.rows,
    drain_rate_limited_delivered: delivered,
    drain_rate_limit_per_s: options.perSecond,
    drain_rate_limited_per_s: round(achieved, 1),
    drain_rate_limited_ratio: ratio(achieved, options.perSecond),
    drain_rate_limited_429s: signalwire.faults.rateLimited.filter((at) => at > firstSend + 1000).length,
  };
}
