/**
 * 2. Convergence latency at a fixed offered rate (open loop: sends go out on schedule
 * whether or not earlier ones have converged): SMS webhook → message in the simulated
 * Front's inbox, and Front `message` → SMS received by the simulated SignalWire, each
 * direction on its own, against `switchboard start` with its worker.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO_SUPPORT, SMS_CHANNEL_ID } from '../../src/demo/environment.ts';
import { CUSTOMER } from './payloads.ts';
import { latency, round } from './stats.ts';
import type { System } from './system.ts';

export interface ConvergenceResult {
  convergence_rate_per_s: number;
  convergence_sms_to_front_p50_ms: number;
  convergence_sms_to_front_p99_ms: number;
  convergence_sms_to_front_max_ms: number;
  convergence_front_to_sms_p50_ms: number;
  convergence_front_to_sms_p99_ms: number;
  convergence_front_to_sms_max_ms: number;
}

/**
 * Sends `count` messages at `rate` per second; `arrivals()` lists what has arrived as
 * [text, epoch ms]. Resolves with each message's latency once all arrived.
 */
async function offer(options: {
  rate: number;
  count: number;
  send: (text: string) => Promise<number>;
  arrivals: () => Iterable<[string, number]>;
}): Promise<number[]> {
  const sentAt = new Map<string, number>();
  const sends: Promise<number>[] = [];
  const start = performance.now();
  for (let i = 0; i < options.count; i++) {
    const due = start + (i * 1000) / options.rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const text = `bench ${i} ${Math.random().toString(36).slice(2)}`;
    sentAt.set(text, Date.now());
    sends.push(options.send(text));
  }
  const statuses = await Promise.all(sends);
  const refused = statuses.filter((s) => s >= 300).length;
  if (refused > 0) throw new Error(`${refused} of ${options.count} requests were refused`);
  const deadline = Date.now() + 180_000;
  for (;;) {
    const latencies: number[] = [];
    for (const [text, at] of options.arrivals()) {
      const sent = sentAt.get(text);
      if (sent !== undefined) latencies.push(at - sent);
    }
    if (latencies.length >= options.count) return latencies;
    if (Date.now() > deadline) throw new Error(`only ${latencies.length} of ${options.count} messages converged within 180 s of the last send`);
    await sleep(50);
  }
}

export async function measureConvergence(system: System, options: { rate: number; durationS: number }): Promise<ConvergenceResult> {
  const server = await system.start();
  try {
    const count = options.rate * options.durationS;
    const { signalwire, front } = system;
    const smsToFront = latency(
      await offer({
        rate: options.rate,
        count,
        send: async (text) => (await signalwire.receiveInbound({ from: CUSTOMER, to: DEMO_SUPPORT, body: text }, system.signalwireHook)).status,
        arrivals: () => front.inbox.map((m): [string, number] => [m.body, m.at.getTime()]),
      }),
    );
    let n = 0;
    const frontToSms = latency(
      await offer({
        rate: options.rate,
        count,
        send: async (text) => (await system.smsChannel.message({ id: `msg_conv${n++}`, channelId: SMS_CHANNEL_ID, text, to: [CUSTOMER] })).status,
        arrivals: () =>
          signalwire.requests
            .filter((r) => r.method === 'POST')
            .map((r): [string, number] => [r.form.find(([k]) => k === 'Body')?.[1] ?? '', r.at.getTime()]),
      }),
    );
    return {
      convergence_rate_per_s: options.rate,
      convergence_sms_to_front_p50_ms: round(smsToFront.p50),
      convergence_sms_to_front_p99_ms: round(smsToFront.p99),
      convergence_sms_to_front_max_ms: round(smsToFront.max),
      convergence_front_to_sms_p50_ms: round(frontToSms.p50),
      convergence_front_to_sms_p99_ms: round(frontToSms.p99),
      convergence_front_to_sms_max_ms: round(frontToSms.max),
    };
  } finally {
    await server.stop();
  }
}
