/**
 * `npm run bench [-- --quick] [-- --only ingest,drain]`: every benchmark of BENCHMARKS.md in
 * one run, each figure next to its floor measured in the same run (the machine is small
 * and shared, so only same-run ratios mean anything). Runs on its own embedded Postgres
 * under .switchboard/bench (or DATABASE_URL's server, one fresh database per measurement),
 * prints a table, and writes bench/results.json (and the table as bench/results.md, for
 * BENCHMARKS.md). Ctrl-C stops every child process.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { acquireEmbeddedPostgres } from '../../src/db/embedded-postgres.ts';
import { createLogger } from '../../src/log.ts';
import { measureCli } from './cli.ts';
import { measureConvergence } from './convergence.ts';
import { measureDrain, measureRateLimitedDrain } from './drain.ts';
import { measureIngest } from './ingest.ts';
import { measurePoll } from './poll.ts';
import { measureScale } from './scale.ts';
import { measureUssd, measureUssdCurve } from './ussd.ts';
import { measureWhatsAppConvergence } from './whatsapp.ts';
import { killAll, ROOT } from './processes.ts';
import { markdownTable, table } from './table.ts';
import { createSystem, type System } from './system.ts';

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } });
const quick = args.quick;
const only = args.only ? new Set(args.only.split(',')) : null;
const log = createLogger(process.env.LOG_LEVEL ?? 'warn');

type Results = Record<string, number | string | boolean | Record<string, unknown>>;

interface Measurement {
  name: string;
  run(system: System, results: Results): Promise<object>;
}

const USSD_RATES = [25, 50, 100, 200];
const INGEST_SIZE = quick ? { durationS: 3, repetitions: 1, connections: 24 } : { durationS: 8, repetitions: 3, connections: 24 };
const CONVERGENCE_SIZE = { durationS: quick ? 4 : 15, waitS: quick ? 10 : 30 };

const measurements: Measurement[] = [
  { name: 'ingest', run: (system) => measureIngest(system, { kinds: ['signalwire', 'front'], ...INGEST_SIZE }) },
  { name: 'ingest_whatsapp', run: (system) => measureIngest(system, { kinds: ['whatsapp'], ...INGEST_SIZE }) },
  { name: 'convergence', run: (system) => measureConvergence(system, { rates: [50, 100, 200, 400], ...CONVERGENCE_SIZE }) },
  { name: 'whatsapp_convergence', run: (system) => measureWhatsAppConvergence(system, { rates: [50, 100], ...CONVERGENCE_SIZE }) },
  { name: 'drain', run: (system) => measureDrain(system, { rows: quick ? 2_000 : 10_000 }) },
  { name: 'scale', run: (system) => measureScale(system, quick ? { small: 10_000, large: 100_000, repetitions: 3 } : { small: 10_000, large: 1_000_000, repetitions: 5 }) },
  { name: 'poll', run: (system) => measurePoll(system, { messages: quick ? 20_000 : 100_000 }) },
  {
    name: 'ussd',
    run: async (system) => {
      const capacity = await measureUssd(system, { concurrency: 100, rounds: quick ? 1 : 3 });
      const { curve, maxRate, stopped } = await measureUssdCurve(system, { rates: USSD_RATES, durationS: quick ? 4 : 15, worker: true });
      return { ...capacity, ussd_curve: curve, ussd_max_rate_per_s: maxRate, ...(stopped ? { ussd_curve_stopped: stopped } : {}) };
    },
  },
  {
    name: 'ussd_worker',
    run: async (system) => {
      const { curve, maxRate, stopped } = await measureUssdCurve(system, { rates: USSD_RATES, durationS: quick ? 4 : 15, worker: 'separate' });
      return { ussd_curve_separate_worker: curve, ussd_separate_worker_max_rate_per_s: maxRate, ...(stopped ? { ussd_curve_separate_worker_stopped: stopped } : {}) };
    },
  },
  { name: 'drain_rate_limited', run: (system) => measureRateLimitedDrain(system, { rows: quick ? 100 : 600, perSecond: 20 }) },
  { name: 'cli', run: (system) => measureCli(system, { runs: quick ? 3 : 7 }) },
];

const embedded = process.env.DATABASE_URL ? null : await acquireEmbeddedPostgres({ dataDir: path.join(ROOT, '.switchboard/bench'), log });
const serverUrl = process.env.DATABASE_URL ?? embedded!.urlFor('postgres');
let stopping = false;
process.on('SIGINT', () => {
  if (stopping) process.exit(130);
  stopping = true;
  process.stderr.write('\ninterrupted: stopping child processes\n');
  killAll();
  void (embedded?.release() ?? Promise.resolve()).finally(() => process.exit(130));
});

async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return String((await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version);
  } finally {
    await client.end();
  }
}

const started = Date.now();
const failures: Record<string, string> = {};
const results: Results = {
  quick,
  machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? '', memory_mb: Math.round(os.totalmem() / 2 ** 20), node: process.version, postgres: await postgresVersion(), platform: `${os.platform()}-${os.arch()}` },
};
try {
  for (const measurement of measurements) {
    if (only && !only.has(measurement.name)) continue;
    process.stderr.write(`${measurement.name}...\n`);
    const system = await createSystem({ serverUrl, name: measurement.name, log });
    try {
      Object.assign(results, await measurement.run(system, results));
    } catch (error) {
      // One broken measurement must not lose the others' figures.
      process.stderr.write(`${measurement.name} failed: ${(error as Error).stack}\n`);
      failures[measurement.name] = (error as Error).message.slice(0, 2000);
    } finally {
      await system.close();
    }
  }
  if (Object.keys(failures).length > 0) results.failures = failures;
  results.duration_s = Math.round((Date.now() - started) / 1000);
  results.date = new Date().toISOString();
  await mkdir(path.join(ROOT, 'bench'), { recursive: true });
  await writeFile(path.join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const machine = results.machine as Record<string, unknown>;
  const about = `${results.date}, ${quick ? 'quick' : 'full'} run, ${machine.cpus} × ${machine.cpu_model}, ${machine.memory_mb} MB, Node ${machine.node}, PostgreSQL ${machine.postgres}`;
  const plan = typeof results.scale_plan === 'string' ? `\n\n\`\`\`\n${results.scale_plan}\n\`\`\`` : '';
  await writeFile(path.join(ROOT, 'bench/results.md'), `${about}\n\n${markdownTable(results)}${plan}\n`);
  console.log(table(results));
  if (Object.keys(failures).length > 0) process.exitCode = 1;
} finally {
  killAll();
  await embedded?.release();
}
