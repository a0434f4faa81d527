/**
 * 1. Ingest at saturation: signed SignalWire inbound webhooks, signed Front `message`
 * requests and signed WhatsApp (Meta) message webhooks against `switchboard start
 * --no-worker`, from autocannon in its own process, each right after the same load against
 * the bare baseline server (baseline-server.ts) on the same Postgres with the same pool size.
 * Repetitions alternate baseline and ours, so noise from the machine hits both; figures are
 * medians over repetitions.
 */
import { DEMO_SUPPORT, SMS_CHANNEL_ID } from '../../src/demo/environment.ts';
import { poolSizeFor } from '../../src/db/connect.ts';
import { startChild, tsxArgs } from './processes.ts';
import type { LoadResult, LoadSpec } from './load.ts';
import { median, ratio, round } from './stats.ts';
import type { System } from './system.ts';

export type IngestKind = 'signalwire' | 'front' | 'whatsapp';

/**
 * Per kind: `ingest_<kind>_rps`, `_p50_ms`, `_p99_ms`, `_ratio` (ours / floor), and the floor's
 * `ingest_baseline_<kind>_rps` — except SignalWire's floor, under the keys earlier runs wrote
 * (`ingest_baseline_rps`, `_p50_ms`, `_p99_ms`).
 */
export type IngestResult = Record<string, number>;

async function load(spec: LoadSpec): Promise<LoadResult> {
  const output = await startChild(tsxArgs('scripts/bench/load.ts', JSON.stringify(spec))).done();
  const result = JSON.parse(output.trim().split('\n').at(-1)!) as LoadResult;
  if (result.failed > 0) throw new Error(`${spec.kind} load on ${spec.target}: ${result.failed} requests failed:\n${output}`);
  return result;
}

export async function measureIngest(system: System, options: { kinds: IngestKind[]; durationS: number; repetitions: number; connections: number }): Promise<IngestResult> {
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
    const { whatsapp } = system;
    const spec = (kind: IngestKind, target: string, run: string): LoadSpec => {
      const common = { target, durationS: options.durationS, connections: options.connections, prefix: run };
      switch (kind) {
        case 'signalwire':
          return { ...common, kind, signedUrl: system.signalwireHook, signingKey: system.signalwire.signingKey, accountSid: system.signalwire.projectId, to: DEMO_SUPPORT };
        case 'front':
          return { ...common, kind, appSecret: system.front.appSecret, apiKey: system.integrations.smsApiKey, channelId: SMS_CHANNEL_ID };
        case 'whatsapp':
          return { ...common, kind, appSecret: whatsapp.appSecret, phoneNumberId: whatsapp.phoneNumberId, displayPhoneNumber: whatsapp.displayPhoneNumber, wabaId: whatsapp.wabaId };
      }
    };
    const targets: Record<IngestKind, string> = {
      signalwire: system.signalwireHook,
      front: `${system.publicUrl}/v1/install/front_signalwire/channel`,
      whatsapp: system.whatsappHook,
    };
    const runs: Record<string, LoadResult[]> = {};
    // A short warm-up of each path (JIT, connections), not counted.
    for (const kind of options.kinds) {
      await load({ ...spec(kind, targets[kind], `w${kind[0]}`), durationS: 2 });
      await load({ ...spec(kind, baselineUrl, `wb${kind[0]}`), durationS: 2 });
    }
    for (let rep = 0; rep < options.repetitions; rep++) {
      for (const kind of options.kinds) {
        (runs[`baseline-${kind}`] ??= []).push(await load(spec(kind, baselineUrl, `b${rep}${kind[0]}`)));
        (runs[kind] ??= []).push(await load(spec(kind, targets[kind], `r${rep}${kind[0]}`)));
      }
    }
    const rps = (key: string) => round(median(runs[key]!.map((r) => r.rps)), 0);
    const p = (key: string, q: 'p50' | 'p99') => round(median(runs[key]!.map((r) => r[q])), 1);
    const result: IngestResult = {};
    for (const kind of options.kinds) {
      Object.assign(result, {
        [`ingest_${kind}_rps`]: rps(kind),
        [`ingest_${kind}_p50_ms`]: p(kind, 'p50'),
        [`ingest_${kind}_p99_ms`]: p(kind, 'p99'),
        [`ingest_${kind}_ratio`]: ratio(rps(kind), rps(`baseline-${kind}`)),
      });
      const floor = `baseline-${kind}`;
      if (kind === 'signalwire') {
        Object.assign(result, { ingest_baseline_rps: rps(floor), ingest_baseline_p50_ms: p(floor, 'p50'), ingest_baseline_p99_ms: p(floor, 'p99') });
      } else {
        Object.assign(result, { [`ingest_baseline_${kind}_rps`]: rps(floor), [`ingest_baseline_${kind}_p50_ms`]: p(floor, 'p50'), [`ingest_baseline_${kind}_p99_ms`]: p(floor, 'p99') });
      }
    }
    return result;
  } finally {
    await baseline.stop();
    await server.stop();
  }
}
