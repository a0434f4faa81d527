/**
 * `npm run soak`: the reliability issue's long runs, with the same scenarios the fast tests
 * run small (test/helpers/reliability.ts): 20 worker kills during a 1,000-message drain,
 * four workers racing over 5,000 messages each way, a five-minute outage of both providers,
 * and 30% provider faults with timeouts — on the Front SMS channel, then the same four on the
 * Front WhatsApp channel (`whatsapp-*`; there each reply's client writes first, for WhatsApp's
 * 24-hour window, so it carries more messages). Prints each scenario's figures and writes them
 * to bench/soak-results.json; exits 1 if any message was lost or sent twice.
 *
 * Runs on its own database (`switchboard_soak`) on DATABASE_URL's server, or on an embedded
 * one under .switchboard/soak. `npm run soak -- races whatsapp-outage` runs only those
 * scenarios (`sms` or `whatsapp`: that channel's four); `--scale 0.2` shrinks the message
 * counts and the outage to a fifth, for a shorter run.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { inspect, parseArgs } from 'node:util';
import { createPool, wrapPool } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import { CHANNEL_ID, setUpChannel, type ChannelSetup } from '../test/helpers/channel.ts';
import { chatbotCrashDrain } from '../test/helpers/chatbot-reliability.ts';
import { crashDrain, outage, providerFaults, races, type Figures } from '../test/helpers/reliability.ts';
import { dropDatabase, recreateDatabase } from '../src/db/databases.ts';
import { throwawayServer } from '../test/helpers/throwaway-postgres.ts';

const { values: args, positionals } = parseArgs({ options: { scale: { type: 'string', default: '1' } }, allowPositionals: true });
const scale = Number(args.scale);
if (!(scale > 0 && scale <= 1)) {
  console.error(`--scale must be a number in (0, 1], not ${args.scale}`);
  process.exit(2);
}
/** A count or duration at --scale, never below `min`. */
const sized = (full: number, min: number) => Math.max(min, Math.round(full * scale));

/** Each scenario at the contract's size; the same ones serve both channels. */
const RUNS: Record<string, (setup: ChannelSetup) => Promise<Figures>> = {
  crash: (setup) => crashDrain(setup, { messages: sized(1000, 40), rounds: 20, timeoutMs: 300_000 }),
  races: (setup) => races(setup, { perDirection: sized(5000, 20), timeoutMs: 600_000 }),
  outage: (setup) => outage(setup, { perDirection: sized(600, 9), outageMs: sized(5 * 60_000, 2000), timeoutMs: 300_000 }),
  'provider-faults': (setup) => providerFaults(setup, { perDirection: sized(100, 8), rate: 0.3, withTimeouts: true, timeoutMs: 900_000 }),
};
const CHANNELS = { sms: { prefix: '', whatsapp: false }, whatsapp: { prefix: 'whatsapp-', whatsapp: true } };
const SCENARIOS = Object.fromEntries(
  Object.values(CHANNELS).flatMap(({ prefix, whatsapp }) => Object.entries(RUNS).map(([name, run]) => [`${prefix}${name}`, { run, whatsapp }])),
);
/** Scenarios that wire their own integrations on the soak database (no SMS/WhatsApp channel setup). */
const STANDALONE: Record<string, () => Promise<Figures>> = {
  // Issue 17: 20 worker kills while chatbot handoffs drain (messages into Front, their
  // acknowledgements, replies through RapidPro).
  'chatbot-crash': () => chatbotCrashDrain(database, { sessions: sized(500, 16), rounds: sized(20, 3), timeoutMs: 900_000 }),
};
const groups: Record<string, string[]> = {
  ...Object.fromEntries(Object.entries(CHANNELS).map(([channel, { prefix }]) => [channel, Object.keys(RUNS).map((name) => `${prefix}${name}`)])),
  chatbot: Object.keys(STANDALONE),
};

const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
const chosen = positionals.length > 0 ? positionals.flatMap((name) => groups[name] ?? [name]) : [...Object.keys(SCENARIOS), ...Object.keys(STANDALONE)];
const unknown = chosen.filter((name) => !(name in SCENARIOS) && !(name in STANDALONE));
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; choose from ${[...Object.keys(SCENARIOS), ...Object.keys(STANDALONE)].join(', ')}, or sms, whatsapp, chatbot`);
  process.exit(2);
}

const server = await throwawayServer(path.resolve('.switchboard/soak'), log);
const url = await recreateDatabase(server.serverUrl, 'switchboard_soak');
const database = wrapPool(url, createPool(url, 12, log));
await migrateToLatest(database.db, database.pool, log);

const results: (Figures & { channel: string; seconds: number })[] = [];
let failed = false;
const started = Date.now();
try {
  const report = (figures: Figures & { channel: string; seconds: number }) => {
    results.push(figures);
    console.log(
      `  ${figures.messages} messages, ${figures.faultsInjected} faults injected, ${figures.duplicates} duplicates, ${figures.lost} lost, ` +
        `converged ${(figures.convergeMs / 1000).toFixed(1)} s after the fault ended (${figures.seconds} s in all)`,
    );
    console.log(`  ${JSON.stringify(figures)}`);
    if (figures.duplicates > 0 || figures.lost > 0) failed = true;
  };
  for (const name of chosen) {
    console.log(`▶ ${name}`);
    const standalone = STANDALONE[name];
    if (standalone) {
      const t0 = Date.now();
      try {
        report({ ...(await standalone()), channel: 'chatbot', seconds: Math.round((Date.now() - t0) / 1000) });
      } catch (error) {
        failed = true;
        console.error(`  ✗ ${name}:`, inspect(error, { depth: 8 }));
      }
      continue;
    }
    const { run, whatsapp } = SCENARIOS[name]!;
    const setup = await setUpChannel(database, {}, { whatsapp });
    const t0 = Date.now();
    try {
      await setup.frontClient.authorize(CHANNEL_ID);
      // Authorising changes the integration (Front's channel id): the scenarios work on the current copy.
      setup.channel = await setup.reload(setup.channel);
      report({ ...(await run(setup)), channel: whatsapp ? 'whatsapp' : 'sms', seconds: Math.round((Date.now() - t0) / 1000) });
    } catch (error) {
      failed = true;
      console.error(`  ✗ ${name}:`, inspect(error, { depth: 8 }));
    } finally {
      await setup.close();
    }
  }
} finally {
  await database.close();
  await dropDatabase(server.serverUrl, 'switchboard_soak');
  await server.release();
}

const summary = { scale, finishedAt: new Date().toISOString(), totalSeconds: Math.round((Date.now() - started) / 1000), results };
await fs.mkdir('bench', { recursive: true });
await fs.writeFile('bench/soak-results.json', `${JSON.stringify(summary, null, 2)}\n`);
console.log(`${failed ? '✗' : '✓'} soak ${failed ? 'failed' : 'passed'} in ${summary.totalSeconds} s; figures in bench/soak-results.json`);
process.exit(failed ? 1 : 0);
