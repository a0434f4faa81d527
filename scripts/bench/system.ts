/**
 * The system under test: a fresh database on the bench's Postgres, the SignalWire, Front and
 * WhatsApp simulators in this process, the demo's integrations wired to them
 * (src/demo/environment.ts) plus a WhatsApp number whose clients write straight to the Front
 * WhatsApp channel (no flow), and `switchboard start` as a child process — the real CLI,
 * configured only through its environment, so its CPU and memory are its own. An Engine on
 * the same database lets a measurement seed rows or run a pass in-process.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { loadConfig, type Config } from '../../src/config.ts';
import { dropDatabase } from '../../src/db/databases.ts';
import type { DatabaseHandle } from '../../src/db/connect.ts';
import { connectFrontChannels, createDemoIntegrations, freshDatabase, WHATSAPP_CHANNEL_ID, type DemoIntegrations } from '../../src/demo/environment.ts';
import type { ServiceIntegration } from '../../src/db/schema.ts';
import { createIntegration } from '../../src/engine/integrations.ts';
import type { Engine } from '../../src/engine/engine.ts';
import type { Logger } from '../../src/log.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { startFrontSimulator, type FrontChannelClient, type FrontSimulator } from '../../src/simulators/front.ts';
import { startSignalWireSimulator, type SignalWireSimulator } from '../../src/simulators/signalwire.ts';
import { startWhatsAppSimulator, type WhatsAppSimulator } from '../../src/simulators/whatsapp.ts';
import { startChild, type Child } from './processes.ts';

export interface System {
  engine: Engine;
  database: DatabaseHandle;
  config: Config;
  /** What `switchboard start` gets: DATABASE_URL, PORT, PUBLIC_URL, the Front app... */
  env: Record<string, string>;
  signalwire: SignalWireSimulator;
  front: FrontSimulator;
  integrations: DemoIntegrations;
  publicUrl: string;
  signalwireHook: string;
  /** Front's side of the SMS channel; set by the first start(). */
  smsChannel: FrontChannelClient;
  whatsapp: WhatsAppSimulator;
  /** The whatsapp_message_v1 integration on the simulator, and the Front WhatsApp channel on it. */
  wa: ServiceIntegration;
  whatsappApiKey: string;
  /** Where the WhatsApp simulator posts webhooks. */
  whatsappHook: string;
  /** Front's side of the WhatsApp channel; set by the first start(). */
  whatsappChannel: FrontChannelClient;
  /**
   * `switchboard start` (with its worker in-process; none with `worker: false`; with
   * `'separate'`, `start --no-worker` plus `switchboard worker`, as docs/operations.md
   * recommends). The Front channels are authorised on the first start.
   */
  start(options?: { worker?: boolean | 'separate' }): Promise<Child>;
  /** Peak resident set of the running server process so far (VmHWM), in MB. */
  peakRssMb(): Promise<number>;
  stop(): Promise<void>;
  close(): Promise<void>;
}

/**
 * BENCH_CPU_PROF=<dir>: a V8 CPU profile of each server run, for finding where the time goes;
 * BENCH_PRELOAD=<module>: imported first by each server run (a query counter, say).
 */
const profiling = [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), ...(process.env.BENCH_PRELOAD ? ['--import', process.env.BENCH_PRELOAD] : [])];

async function freePort(): Promise<number> {
  // The server's PUBLIC_URL (signatures are checked against it) must be known before it starts.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function createSystem(options: { serverUrl: string; name: string; log: Logger }): Promise<System> {
  const name = `bench_${options.name}`;
  const database = await freshDatabase(options.serverUrl, name, options.log);
  const [signalwire, front, whatsapp] = await Promise.all([startSignalWireSimulator(), startFrontSimulator(), startWhatsAppSimulator()]);
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: database.url,
    HOST: '127.0.0.1',
    PORT: String(port),
    PUBLIC_URL: publicUrl,
    LOG_LEVEL: 'warn',
    FRONT_API_URL: front.url,
    FRONT_CHANNEL_APP_UID: front.appUid,
    FRONT_CHANNEL_APP_SECRET: front.appSecret,
    // Polls only when a measurement asks for one.
    SWITCHBOARD_POLL_CRON: '0 0 1 1 *',
  };
  const config = loadConfig(env);
  const engine: Engine = { db: database.db, registry: defaultRegistry(), log: options.log, config };
  const integrations = await createDemoIntegrations(engine, config, signalwire);
  const waFlags = { 'phone-number-id': whatsapp.phoneNumberId, 'access-token': whatsapp.accessToken, 'app-secret': whatsapp.appSecret, 'verify-token': 'bench-verify-token', 'api-url': whatsapp.url };
  const { integration: wa } = await createIntegration(engine.db, engine.registry, config, { service: 'whatsapp_message_v1', flags: waFlags });
  const { apiKey: whatsappApiKey } = await createIntegration(engine.db, engine.registry, config, { service: 'front_whatsapp_channel_app_v1', flags: {}, dependsOn: String(wa.id) });
  let server: Child | null = null;
  let workerProcess: Child | null = null;

  const system: System = {
    engine,
    database,
    config,
    env,
    signalwire,
    front,
    integrations,
    publicUrl,
    signalwireHook: `${publicUrl}/v1/service_integrations/${integrations.sw.opaque_id}`,
    smsChannel: undefined as unknown as FrontChannelClient,
    whatsapp,
    wa,
    whatsappApiKey: whatsappApiKey!,
    whatsappHook: `${publicUrl}/v1/service_integrations/${wa.opaque_id}`,
    whatsappChannel: undefined as unknown as FrontChannelClient,
    async start({ worker = true } = {}) {
      await system.stop();
      if (worker === 'separate') {
        workerProcess = startChild([...profiling, 'bin/switchboard.js', 'worker'], env);
        await workerProcess.waitFor(/switchboard worker running/);
      }
      server = startChild([...profiling, 'bin/switchboard.js', 'start', ...(worker === true ? [] : ['--no-worker'])], env);
      await server.waitFor(/switchboard listening on/);
      system.smsChannel ??= (await connectFrontChannels(front, publicUrl, integrations)).sms;
      if (!system.whatsappChannel) {
        system.whatsappChannel = front.channelClient({ webhookUrl: `${publicUrl}/v1/install/front_whatsapp/channel`, apiKey: system.whatsappApiKey });
        await system.whatsappChannel.authorize(WHATSAPP_CHANNEL_ID);
      }
      return server;
    },
    async peakRssMb() {
      if (!server) throw new Error('the server is not running');
      const status = await readFile(`/proc/${server.pid}/status`, 'utf8');
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) / 1024;
    },
    async stop() {
      await Promise.all([server?.stop(), workerProcess?.stop()]);
      server = null;
      workerProcess = null;
    },
    async close() {
      await system.stop();
      await Promise.all([signalwire.close(), front.close(), whatsapp.close()]);
      await database.close();
      // Gone, not left for autovacuum to work through during the next measurement (scale's is a million rows).
      await dropDatabase(options.serverUrl, `switchboard_${name}`); // as freshDatabase named it
    },
  };
  return system;
}
