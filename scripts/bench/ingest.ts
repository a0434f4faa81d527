/**
 * 1. Ingest at saturation: signed SignalWire inbound webhooks and signed Front `message`
 * requests against `switchboard start --no-worker`, from autocannon in its own process,
 * each right after the same load against the bare baseline server (baseline-server.ts) on
 * the same Postgres with the same pool size. Repetitions alternate baseline and ours, so
 * noise from the machine hits both; figures are medians over repetitions.
 */
import { DEMO_SUPPORT, SMS_CHANNEL_ID } from '../../src/demo/environment.ts';
import { poolSizeFor } from '../../src/db/connect.ts';
import { startChild, tsxArgs } from './processes.ts';
import type { LoadResult, LoadSpec } from './load.ts';
import { median, ratio, round } from './stats.ts';
import type { System } from './system.ts';

export interface IngestResult {
  ingest_signalwire_rps: number;
  ingest_signalwire_p50_ms: number;
  ingest_signalwire_p99_ms: number;
  ingest_front_rps: number;
  ingest_front_p50_ms: number;
  ingest_front_p99_ms: number;
  ingest_baseline_rps: number;
  ingest_baseline_p50_ms: number;
  ingest_baseline_p99_ms: number;
  ingest_baseline_front_rps: number;
  ingest_signalwire_ratio: number;
  ingest_front_ratio: number;
}

type Kind = 'signalwire' | 'front';

async function load(spec: LoadSpec): Promise<LoadResult> {
  const output = await startChild(tsxArgs('scripts/bench/load.ts', JSON.stringify(spec))).done();
  const result = JSON.parse(output.trim().split('\n').at(-1)!) as LoadResult;
  if (result.failed > 0) throw new Error(`${spec.kind} load on ${spec.target}: ${result.failed} requests failed:\n${output}`);
  return result;
}

export async function measureIngest(system: System, options: { durationS: number; repetitions: number; connections: number }): Promise<IngestResult> {
  await system.database.pool.query(
    'CREATE TABLE IF NOT EXISTS bench_baseline (key text PRIMARY KEY, data jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now())',
  );
  const server = await system.start({ worker: false });
  const baseline = startChild(tsxArgs('scripts/bench/baseline-server.ts'), {
    DATABASE_URL: system.database.url,
    POOL_SIZE: String(poolSizeFor(system.config)),
  });
  try {
    const baselineUrl = `http://127.0.0.1:${(await baseline.waitFor(/^(\d+)$/m))[1]}/`;
    const { sw } = system.integrations;
    const spec = (kind: Kind, target: string, run: string): LoadSpec => {
      const common = { target, durationS: options.durationS, connections: options.connections, prefix: run };
      return kind === 'signalwire'
        ? { ...common, kind, signedUrl: system.signalwireHook, signingKey: system.signalwire.signingKey, accountSid: system.signalwire.projectId, to: DEMO_SUPPORT }
        : { ...common, kind, appSecret: system.front.appSecret, apiKey: system.integrations.smsApiKey, channelId: SMS_CHANNEL_ID };
    };
    const targets: Record<Kind, string> = { signalwire: system.signalwireHook, front: `${system.publicUrl}/v1/install/front_signalwire/channel` };
    const runs: Record<string, LoadResult[]> = {};
    // A short warm-up of each path (JIT, connections), not counted.
    for (const kind of ['signalwire', 'front'] as const) {
      await load({ ...spec(kind, targets[kind], `w${kind[0]}`), durationS: 2 });
      await load({ ...spec(kind, baselineUrl, `wb${kind[0]}`), durationS: 2 });
    }
    for (let rep = 0; rep < options.repetitions; rep++) {
      for (const kind of ['signalwire', 'front'] as const) {
        (runs[`baseline-${kind}`] ??= []).push(await load(spec(kind, baselineUrl, `b${rep}${kind[0]}`)));
        (runs[kind] ??= []).push(await load(spec(kind, targets[kind], `r${rep}${kind[0]}`)));
      }
    }
    const rps = (key: string) => round(median(runs[key]!.map((r) => r.rps)), 0);
    const p = (key: string, q: 'p50' | 'p99') => round(median(runs[key]!.map((r) => r[q])), 1);
    return {
      ingest_signalwire_rps: rps('signalwire'),
      ingest_signalwire_p50_ms: p('signalwire', 'p50'),
      ingest_signalwire_p99_ms: p('signalwire', 'p99'),
      ingest_front_rps: rps('front'),
      ingest_front_p50_ms: p('front', 'p50'),
      ingest_front_p99_ms: p('front', 'p99'),
      ingest_baseline_rps: rps('baseline-signalwire'),
      ingest_baseline_p50_ms: p('baseline-signalwire', 'p50'),
      ingest_baseline_p99_ms: p('baseline-signalwire', 'p99'),
      ingest_baseline_front_rps: rps('baseline-front'),
      ingest_signalwire_ratio: ratio(rps('signalwire'), rps('baseline-signalwire')),
      ingest_front_ratio: ratio(rps('front'), rps('baseline-front')),
    };
  } finally {
    await baseline.stop();
    await server.stop();
  }
}
