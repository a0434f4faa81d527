/**
 * 6. USSD hops: sessions in Africa's Talking's format against `switchboard start`, each the
 * demo's whole conversation (menu, write, message, consent: four hops).
 * - Capacity (closed loop): `concurrency` sessions at once, each hop sent when the previous
 *   one answered. It measures how many hops/s the server gets through, not latency: a
 *   closed loop slows its own load down as the server queues.
 * - Latency curve (open loop): at each offered rate, sessions start by the clock (rate / 4
 *   a second, so `rate` hops/s); within a session a caller reads each screen for THINK_MS
 *   before answering, as a phone must wait for it. Each hop is timed from its scheduled time
 *   (its session's start, or the previous answer plus THINK_MS) to its answer.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { dial, type UssdHop } from '../../src/simulators/ussd.ts';
import { openLoop, percentiles, runCurve, type CurveStep, type Percentiles } from './curve.ts';
import { latency, round } from './stats.ts';
import type { System } from './system.ts';

export interface UssdResult {
  ussd_sessions: number;
  /** Sessions answered with an error, or ended before their last hop (the budget's "received" screen). */
  ussd_failed_sessions: number;
  ussd_hops: number;
  ussd_hop_p50_ms: number;
  ussd_hop_p99_ms: number;
  ussd_hop_max_ms: number;
  ussd_budget_ms: number;
  ussd_capacity_hops_per_s: number;
}

/** The limit for a sustainable hop rate. */
export const USSD_LIMIT_MS = 500;
/** How long a caller reads a screen before answering it. */
const THINK_MS = 1000;
/** The demo's conversation after the dial: write a message, the message, consent. */
const INPUTS = ['1', 'bench message', '1'];

/**
 * One caller's session, hop after hop, each hop timed from when it was due (dialAt; then the
 * previous answer plus thinkMs) to its answer; false when a hop failed or the session ended early.
 */
async function callerSession(url: string, msisdn: string, options: { dialAt: number; thinkMs: number; hops: number[] }): Promise<boolean> {
  let scheduledAt = options.dialAt;
  const answered = (hop: UssdHop) => {
    const at = Date.now();
    options.hops.push(at - scheduledAt);
    scheduledAt = at + options.thinkMs;
    return hop.status === 200;
  };
  try {
    const { session, first } = await dial(url, { gateway: 'africastalking', msisdn });
    if (!answered(first)) return false;
    for (const input of INPUTS) {
      if (session.ended) return false;
      if (options.thinkMs > 0) await sleep(scheduledAt - Date.now());
      if (!answered(await session.send(input))) return false;
    }
    return true;
  } catch {
    return false;
  }
}

export async function measureUssd(system: System, options: { concurrency: number; rounds: number }): Promise<UssdResult> {
  const server = await system.start();
  const url = `${system.publicUrl}/v1/ussd/africastalking/${system.integrations.ussd.opaque_id}`;
  const hops: number[] = [];
  let failed = 0;
  const started = performance.now();
  try {
    for (let round = 0; round < options.rounds; round++) {
      const sessions = Array.from({ length: options.concurrency }, (_, i) =>
        callerSession(url, `+2547${String(round * options.concurrency + i).padStart(8, '0')}`, { dialAt: Date.now(), thinkMs: 0, hops }),
      );
      failed += (await Promise.all(sessions)).filter((ok) => !ok).length;
    }
  } finally {
    await server.stop();
  }
  const elapsedS = (performance.now() - started) / 1000;
  const summary = latency(hops);
  return {
    ussd_sessions: options.concurrency * options.rounds,
    ussd_failed_sessions: failed,
    ussd_hops: hops.length,
    ussd_hop_p50_ms: round(summary.p50),
    ussd_hop_p99_ms: round(summary.p99),
    ussd_hop_max_ms: round(summary.max),
    ussd_budget_ms: system.config.ussd.budgetMs,
    ussd_capacity_hops_per_s: round(hops.length / elapsedS, 0),
  };
}

export interface UssdStep extends CurveStep, Percentiles {
  hops: number;
  /** Sessions answered with an error, or ended before their last hop (the budget's "received" screen). */
  failed_sessions: number;
  sessions: number;
  /** p99 of how late the generator dialled after a session's scheduled start. */
  send_lag_p99_ms: number;
}

export interface UssdCurveResult {
  curve: Record<string, UssdStep>;
  maxRate: number;
  stopped: string | null;
}

async function ussdStep(url: string, rate: number, durationS: number): Promise<UssdStep> {
  const hops: number[] = [];
  const sessions: Promise<boolean>[] = [];
  const sessionsPerS = rate / (INPUTS.length + 1);
  const lag = await openLoop(sessionsPerS, Math.max(1, Math.round(sessionsPerS * durationS)), (i, at) => {
    sessions.push(callerSession(url, `+2547${String(rate).padStart(3, '0')}${String(i).padStart(5, '0')}`, { dialAt: at, thinkMs: THINK_MS, hops }));
  });
  const failed = (await Promise.all(sessions)).filter((ok) => !ok).length;
  const summary = percentiles(hops);
  const saturated = failed > 0 ? `${failed} sessions failed or ended early` : summary.p99 > 4 * USSD_LIMIT_MS ? `p99 ${summary.p99} ms, past ${4 * USSD_LIMIT_MS} ms` : null;
  return { ...summary, hops: hops.length, sessions: sessions.length, failed_sessions: failed, send_lag_p99_ms: lag, saturated };
}

/** The open-loop hop curve, with the worker in the server's process or (`'separate'`) its own. */
export async function measureUssdCurve(system: System, options: { rates: number[]; durationS: number; worker: true | 'separate' }): Promise<UssdCurveResult> {
  await system.start({ worker: options.worker });
  const url = `${system.publicUrl}/v1/ussd/africastalking/${system.integrations.ussd.opaque_id}`;
  try {
    // As for convergence: the fresh process's warm-up is not a rate's latency.
    await ussdStep(url, 8, 2);
    return await runCurve(options.rates, USSD_LIMIT_MS, (rate) => ussdStep(url, rate, options.durationS));
  } finally {
    await system.stop();
  }
}
