/**
 * Measures latency on the simulators, one message at a time:
 * SMS → Front (signed SignalWire webhook in → message in the simulated Front inbox),
 * Front → SMS (signed Front `message` in → SMS received by the simulated SignalWire), and
 * USSD hops (gateway request → answer, Africa's Talking format, dial then one answer).
 * Prints median, p90, p99 and worst of N (default 100). Runs on its own embedded cluster
 * under .switchboard/latency, or DATABASE_URL's server (in a database it drops first).
 *
 *   npm run latency [-- 200]
 */
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { createPool, wrapPool } from '../src/db/connect.ts';
import { acquireEmbeddedPostgres } from '../src/db/embedded-postgres.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { createIntegration } from '../src/engine/integrations.ts';
import type { Engine } from '../src/engine/ingest.ts';
import { buildApp } from '../src/http/app.ts';
import { startWorker } from '../src/jobs/worker.ts';
import { createLogger } from '../src/log.ts';
import { defaultRegistry } from '../src/replicators/index.ts';
import { startFrontSimulator } from '../src/simulators/front.ts';
import { startSignalWireSimulator } from '../src/simulators/signalwire.ts';
import { dial } from '../src/simulators/ussd.ts';

const COUNT = Number(process.argv[2] ?? 100);
const SUPPORT = '+15550001111';
const CUSTOMER = '+15550002222';
const DATABASE = 'switchboard_latency';

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 1));
}

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
  return `${label.padEnd(12)} n=${sorted.length}  median ${at(0.5)} ms  p90 ${at(0.9)} ms  p99 ${at(0.99)} ms  worst ${sorted.at(-1)!.toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const embedded = process.env.DATABASE_URL ? null : await acquireEmbeddedPostgres({ dataDir: path.resolve('.switchboard/latency'), log });
  const serverUrl = process.env.DATABASE_URL ?? embedded!.urlFor('postgres');
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${DATABASE}`;
  const database = wrapPool(url.toString(), createPool(url.toString(), 10, log));
  await migrateToLatest(database.db, database.pool, log);

  const [signalwire, front, port] = await Promise.all([startSignalWireSimulator(), startFrontSimulator(), freePort()]);
  const publicUrl = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    PUBLIC_URL: publicUrl,
    PORT: String(port),
    FRONT_API_URL: front.url,
    FRONT_CHANNEL_APP_UID: front.appUid,
    FRONT_CHANNEL_APP_SECRET: front.appSecret,
  });
  const engine: Engine = { db: database.db, registry: defaultRegistry(), log, config };
  const app = await buildApp({ engine, config });
  await app.listen({ host: '127.0.0.1', port });
  const runner = await startWorker(engine, database.url, { ...config, pollCron: '0 0 1 1 *' });

  const { integration: sw } = await createIntegration(engine.db, engine.registry, config, {
    service: 'signalwire_message_v1',
    flags: { space: signalwire.url, 'project-id': signalwire.projectId, 'api-token': signalwire.apiToken, 'signing-key': signalwire.signingKey },
  });
  const { apiKey } = await createIntegration(engine.db, engine.registry, config, {
    service: 'front_signalwire_message_channel_app_v1',
    dependsOn: String(sw.id),
    flags: { phone: SUPPORT },
  });
  const channel = front.channelClient({ webhookUrl: `${publicUrl}/v1/install/front_signalwire/channel`, apiKey: apiKey! });
  await channel.authorize('cha_latency');
  const hook = `${publicUrl}/v1/service_integrations/${sw.opaque_id}`;

  const smsToFront: number[] = [];
  for (let i = 0; i < COUNT; i++) {
    const started = performance.now();
    const expected = front.inbox.length + 1;
    await signalwire.receiveInbound({ from: CUSTOMER, to: SUPPORT, body: `inbound ${i}` }, hook);
    await until(() => front.inbox.length >= expected);
    smsToFront.push(performance.now() - started);
  }
  const frontToSms: number[] = [];
  for (let i = 0; i < COUNT; i++) {
    const started = performance.now();
    const expected = signalwire.sent().length + 1;
    await channel.message({ id: `msg_lat${i}`, channelId: 'cha_latency', text: `reply ${i}`, to: [CUSTOMER] });
    await until(() => signalwire.sent().length >= expected);
    frontToSms.push(performance.now() - started);
  }
  const { integration: ussd } = await createIntegration(engine.db, engine.registry, config, { service: 'ussd_request_v1', flags: {} });
  const ussdHops: number[] = [];
  for (let i = 0; i < COUNT / 2; i++) {
    let started = performance.now();
    const { session } = await dial(`${publicUrl}/v1/ussd/africastalking/${ussd.opaque_id}`, { gateway: 'africastalking', msisdn: `+2332412${String(i).padStart(5, '0')}` });
    ussdHops.push(performance.now() - started);
    started = performance.now();
    await session.send('1');
    ussdHops.push(performance.now() - started);
  }
  console.log(summary('SMS → Front', smsToFront));
  console.log(summary('Front → SMS', frontToSms));
  console.log(summary('USSD hop', ussdHops));

  await runner.stop();
  await app.close();
  await Promise.all([signalwire.close(), front.close()]);
  await database.close();
  await embedded?.release();
}

await main();
