/**
 * Statistics shared by the benchmarks: quantiles of latency samples, medians across
 * repetitions, and rounding for the table and the results file.
 */

/** The q-quantile (0..1) of samples by nearest rank; NaN when there are none. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const median = (samples: readonly number[]): number => quantile(samples, 0.5);

export interface Latency {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function latency(samples: readonly number[]): Latency {
  return { n: samples.length, p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), max: quantile(samples, 1) };
}

/** Rounded for display and the results file: figures are noisy beyond this precision. */
export const round = (value: number, digits = 1): number => Number(value.toFixed(digits));

export const ratio = (ours: number, baseline: number): number => round(ours / baseline, 2);
