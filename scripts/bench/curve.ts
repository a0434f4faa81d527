/**
 * Open-loop load curves: arrivals scheduled by the clock at a fixed offered rate (never "send
 * the next when the previous answers", which would slow the load down exactly when the server
 * queues, and hide the queueing), latency counted from each arrival's *scheduled* time, and a
 * curve of such steps at rising rates that reports the highest rate whose p99 stays under a
 * limit, stopping early once a rate is clearly past saturation.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { latency, round } from './stats.ts';

export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

export const percentiles = (samples: readonly number[]): Percentiles => {
  const { p50, p99, max } = latency(samples);
  return { p50: round(p50), p99: round(p99), max: round(max) };
};

/**
 * Calls `fire(i, scheduledAt)` for i < count at `rate` per second by the clock (scheduledAt in
 * epoch ms, the clock the simulators stamp arrivals with); `fire` must not wait for an answer. Arrivals that fall behind (a busy event loop)
 * go out at once, and the lag is returned (p99, ms) so a late generator shows in the results.
 */
export async function openLoop(rate: number, count: number, fire: (i: number, scheduledAt: number) => void): Promise<number> {
  const start = Date.now();
  const lags: number[] = [];
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 1) await sleep(wait);
    lags.push(Math.max(0, Date.now() - due));
    fire(i, due);
  }
  return round(latency(lags).p99);
}

export interface CurveStep {
  /** The figure compared with the limit (for two directions, the worse p99). */
  p99: number;
  /** Why no higher rate is worth offering, when this rate is clearly past saturation. */
  saturated: string | null;
}

export interface Curve<S> {
  /** Offered rate → its step's figures, for every rate run. */
  curve: Record<string, S>;
  /** The highest offered rate whose p99 (and every lower rate's) stayed within the limit; 0 when none did. */
  maxRate: number;
  /** Set when higher rates were skipped, saying why. */
  stopped: string | null;
}

/** Runs `step` at each rate in turn, stopping after the first step that says it is saturated. */
export async function runCurve<S extends CurveStep>(rates: readonly number[], limitMs: number, step: (rate: number) => Promise<S>): Promise<Curve<S>> {
  const curve: Record<string, S> = {};
  let maxRate = 0;
  let sustained = true;
  for (const [i, rate] of rates.entries()) {
    const result = await step(rate);
    process.stderr.write(`  ${rate}/s: p99 ${result.p99} ms${result.saturated ? `, saturated: ${result.saturated}` : ''}\n`);
    curve[String(rate)] = result;
    sustained &&= result.p99 <= limitMs;
    if (sustained) maxRate = rate;
    const skipped = rates.slice(i + 1);
    if (result.saturated && skipped.length > 0) {
      return { curve, maxRate, stopped: `stopped after ${rate}/s (${result.saturated}); not run: ${skipped.map((r) => `${r}/s`).join(', ')}` };
    }
  }
  return { curve, maxRate, stopped: null };
}
