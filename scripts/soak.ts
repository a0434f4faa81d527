/**
 * `npm run soak`: the reliability issue's long runs, with the same scenarios the fast tests
 * run small (test/helpers/reliability.ts): 20 worker kills during a 1,000-message drain,
 * four workers racing over 5,000 messages each way, a five-minute outage of both providers,
 * and 30% provider faults with timeouts. Prints each scenario's figures and writes them to
 * bench/soak-results.json; exits 1 if any message was lost or sent twice.
 *
 * Runs on its own database (`switchboard_soak`) on DATABASE_URL's server, or on an embedded
 * one under .switchboard/soak. `npm run soak -- races outage` runs only those scenarios.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createPool, wrapPool } from '../src/db/connect.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createLogger } from '../src/log.ts';
import { CHANNEL_ID, setUpChannel, type ChannelSetup } from '../test/helpers/channel.ts';
import { chatbotCrashDrain } from '../test/helpers/chatbot-reliability.ts';
import { crashDrain, outage, providerFaults, races, type Figures } from '../test/helpers/reliability.ts';
import { dropDatabase, recreateDatabase } from '../src/db/databases.ts';
import { throwawayServer } from '../test/helpers/throwaway-postgres.ts';

const SCENARIOS: Record<string, (setup: ChannelSetup) => Promise<Figures>> = {
  crash: (setup) => crashDrain(setup, { messages: 1000, rounds: 20, timeoutMs: 300_000 }),
  races: (setup) => races(setup, { perDirection: 5000, timeoutMs: 600_000 }),
  outage: (setup) => outage(setup, { perDirection: 600, outageMs: 5 * 60_000, timeoutMs: 300_000 }),
  'provider-faults': (setup) => providerFaults(setup, { perDirection: 100, rate: 0.3, withTimeouts: true, timeoutMs: 900_000 }),
  // Issue 17: 20 worker kills while 500 chatbot handoffs drain (messages into Front, their
  // acknowledgements, 500 replies through RapidPro); it wires its own integrations on this database.
  'chatbot-crash': () => chatbotCrashDrain(database, { sessions: 500, rounds: 20, timeoutMs: 300_000 }),
};

const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(SCENARIOS);
const unknown = chosen.filter((name) => !(name in SCENARIOS));
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(', ')}; choose from ${Object.keys(SCENARIOS).join(', ')}`);
  process.exit(2);
}

const server = await throwawayServer(path.resolve('.switchboard/soak'), log);
const url = await recreateDatabase(server.serverUrl, 'switchboard_soak');
const database = wrapPool(url, createPool(url, 12, log));
await migrateToLatest(database.db, database.pool, log);

const results: (Figures & { seconds: number })[] = [];
let failed = false;
const started = Date.now();
try {
  for (const name of chosen) {
    console.log(`▶ ${name}`);
    const setup = await setUpChannel(database);
    const t0 = Date.now();
    try {
      await setup.frontClient.authorize(CHANNEL_ID);
      const figures = { ...(await SCENARIOS[name]!(setup)), seconds: Math.round((Date.now() - t0) / 1000) };
      results.push(figures);
      console.log(
        `  ${figures.messages} messages, ${figures.faultsInjected} faults injected, ${figures.duplicates} duplicates, ${figures.lost} lost, ` +
          `converged ${(figures.convergeMs / 1000).toFixed(1)} s after the fault ended (${figures.seconds} s in all)`,
      );
      console.log(`  ${JSON.stringify(figures)}`);
      if (figures.duplicates > 0 || figures.lost > 0) failed = true;
    } catch (error) {
      failed = true;
      console.error(`  ✗ ${name}: ${(error as Error).stack}`);
    } finally {
      await setup.close();
    }
  }
} finally {
  await database.close();
  await dropDatabase(server.serverUrl, 'switchboard_soak');
  await server.release();
}

const report = { finishedAt: new Date().toISOString(), totalSeconds: Math.round((Date.now() - started) / 1000), results };
await fs.mkdir('bench', { recursive: true });
await fs.writeFile('bench/soak-results.json', `${JSON.stringify(report, null, 2)}\n`);
console.log(`${failed ? '✗' : '✓'} soak ${failed ? 'failed' : 'passed'} in ${report.totalSeconds} s; figures in bench/soak-results.json`);
process.exit(failed ? 1 : 0);
