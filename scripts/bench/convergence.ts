/**
 * 2. Convergence latency at a fixed offered rate (open loop: sends go out on schedule
 * whether or not earlier ones have converged): SMS webhook → message in the simulated
 * Front's inbox, and Front `message` → SMS received by the simulated SignalWire, each
 * direction on its own, against `switchboard start` with its worker.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO_SUPPORT, SMS_CHANNEL_ID } from '../../src/demo/environment.ts';
import { CLIENTS, clientNumber } from './seed.ts';
import { latency, round } from './stats.ts';
import type { System } from './system.ts';

export interface ConvergenceResult {
  convergence_rate_per_s: number;
  convergence_sms_to_front_p50_ms: number;
  convergence_sms_to_front_p99_ms: number;
  convergence_sms_to_front_max_ms: number;
  /** Requests the sender gave up on (timeout) or that were refused. */
  convergence_sms_to_front_failed_requests: number;
  convergence_front_to_sms_p50_ms: number;
  convergence_front_to_sms_p99_ms: number;
  convergence_front_to_sms_max_ms: number;
  convergence_front_to_sms_failed_requests: number;
}

/**
 * Sends `count` messages at `rate` per second; `arrivals()` lists what has arrived as
 * [text, epoch ms]. Resolves with each converged message's latency once all accepted ones
 * arrived, and how many requests failed (timed out or refused).
 */
async function offer(options: {
  rate: number;
  count: number;
  send: (text: string) => Promise<number>;
  arrivals: () => Iterable<[string, number]>;
}): Promise<{ latencies: number[]; failed: number }> {
  const sentAt = new Map<string, number>();
  const sends: Promise<number>[] = [];
  const start = performance.now();
  for (let i = 0; i < options.count; i++) {
    const due = start + (i * 1000) / options.rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const text = `bench ${i} ${Math.random().toString(36).slice(2)}`;
    sentAt.set(text, Date.now());
    // A provider gives up on a request after its timeout (SignalWire: 5 s): that is a failure to report, not to crash on.
    sends.push(options.send(text).catch(() => 0));
  }
  const statuses = await Promise.all(sends);
  const failed = statuses.filter((s) => s < 200 || s >= 300).length;
  const deadline = Date.now() + 180_000;
  // Messages whose request failed may still have been stored, and converge: they get 10 s more.
  const grace = Date.now() + 10_000;
  for (;;) {
    const latencies: number[] = [];
    for (const [text, at] of options.arrivals()) {
      const sent = sentAt.get(text);
      if (sent !== undefined) latencies.push(at - sent);
    }
    if (latencies.length >= options.count || (latencies.length >= options.count - failed && Date.now() > grace)) return { latencies, failed };
    if (Date.now() > deadline) throw new Error(`only ${latencies.length} of ${options.count} messages converged within 180 s of the last send`);
    await sleep(50);
  }
}

export async function measureConvergence(system: System, options: { rate: number; durationS: number }): Promise<ConvergenceResult> {
  const server = await system.start();
  try {
    const count = options.rate * options.durationS;
    const { signalwire, front } = system;
    // 200 messages a second come from many clients, not one: spread them over CLIENTS conversations.
    let m = 0;
    const smsToFront = await offer({
      rate: options.rate,
      count,
      send: async (text) => (await signalwire.receiveInbound({ from: clientNumber(m++, CLIENTS), to: DEMO_SUPPORT, body: text }, system.signalwireHook)).status,
      arrivals: () => front.inbox.map((m): [string, number] => [m.body, m.at.getTime()]),
    });
    let n = 0;
    const frontToSms = await offer({
      rate: options.rate,
      count,
      send: async (text) => (await system.smsChannel.message({ id: `msg_conv${n}`, channelId: SMS_CHANNEL_ID, text, to: [clientNumber(n++, CLIENTS)] })).status,
      arrivals: () =>
        signalwire.requests
          .filter((r) => r.method === 'POST')
          .map((r): [string, number] => [r.form.find(([k]) => k === 'Body')?.[1] ?? '', r.at.getTime()]),
    });
    const a = latency(smsToFront.latencies);
    const b = latency(frontToSms.latencies);
    return {
      convergence_rate_per_s: options.rate,
      convergence_sms_to_front_p50_ms: round(a.p50),
      convergence_sms_to_front_p99_ms: round(a.p99),
      convergence_sms_to_front_max_ms: round(a.max),
      convergence_sms_to_front_failed_requests: smsToFront.failed,
      convergence_front_to_sms_p50_ms: round(b.p50),
      convergence_front_to_sms_p99_ms: round(b.p99),
      convergence_front_to_sms_max_ms: round(b.max),
      convergence_front_to_sms_failed_requests: frontToSms.failed,
    };
  } finally {
    await server.stop();
  }
}
