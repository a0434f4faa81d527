/**
 * A whole Switchboard on simulated providers, in one process: a fresh database (on the
 * embedded server under `<data dir>/<name>`, or DATABASE_URL's server), the HTTP server and
 * the worker, the SignalWire, Front and WhatsApp simulators, and integrations wired to them — the SMS
 * channel, the USSD channel, a USSD service and a WhatsApp number greeting clients with the
 * helpline flow; with `whatsapp`, the Front WhatsApp channel on that number too (without
 * `whatsappFlow`, its clients write straight to Front); with `chatbot`, a chatbot handoff on the
 * RapidPro simulator (the phone page's chatbot tab plays its clients). Used by `switchboard demo` and
 * `npm run latency`; never touches the user's own database.
 */
import fs from 'node:fs';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../config.ts';
import { createPool, wrapPool, type DatabaseHandle } from '../db/connect.ts';
import { recreateDatabase } from '../db/databases.ts';
import { acquireEmbeddedPostgres } from '../db/embedded-postgres.ts';
import { migrateToLatest } from '../db/migrate.ts';
import type { ServiceIntegration } from '../db/schema.ts';
import type { Engine } from '../engine/engine.ts';
import { createIntegration } from '../engine/integrations.ts';
import { buildApp } from '../http/app.ts';
import { startWorker, type Runner } from '../jobs/worker.ts';
import { issueAdminToken } from '../web/admin-token.ts';
import { startDemoChatbot, type DemoChatbot } from './chatbot.ts';
import { demoRoutes } from './routes.ts';
import type { Logger } from '../log.ts';
import { defaultRegistry } from '../replicators/index.ts';
import { startFrontSimulator, type FrontChannelClient, type FrontSimulator } from '../simulators/front.ts';
import { startSignalWireSimulator, type SignalWireSimulator } from '../simulators/signalwire.ts';
import { startWhatsAppSimulator, type WhatsAppSimulator } from '../simulators/whatsapp.ts';
import { HELPLINE_FLOW_WITHOUT_REPLIES } from '../ussd/flow/helpline.ts';

export const DEMO_SUPPORT = '+15550001111';
export const SMS_CHANNEL_ID = 'cha_demo_sms';
export const USSD_CHANNEL_ID = 'cha_demo_ussd';
export const WHATSAPP_CHANNEL_ID = 'cha_demo_whatsapp';

export interface DemoEnvironment {
  publicUrl: string;
  /** Opens the dashboard (stored hashed in the demo database, like any `switchboard admin-token`). */
  adminToken: string;
  /** The demo database, for `DATABASE_URL=... npx switchboard status` while it runs. */
  databaseUrl: string;
  config: Config;
  engine: Engine;
  signalwire: SignalWireSimulator;
  front: FrontSimulator;
  sw: ServiceIntegration;
  /** Front's side of each channel, already authorised. */
  smsChannel: FrontChannelClient;
  ussdChannel: FrontChannelClient;
  ussd: ServiceIntegration;
  /** Where the SignalWire simulator posts inbound SMS. */
  signalwireHook: string;
  whatsapp: WhatsAppSimulator;
  wa: ServiceIntegration;
  /** Where the WhatsApp simulator posts webhooks (the whatsapp_message_v1 integration's URL). */
  whatsappHook: string;
  /** With `whatsapp`: Front's side of the Front WhatsApp channel on `wa`, authorised. */
  whatsappChannel: FrontChannelClient | null;
  /** With `chatbot`: the RapidPro simulator, its bot and the handoff's Front channel. */
  chatbot: DemoChatbot | null;
  close(): Promise<void>;
}

/** A new, migrated database named `switchboard_<name>` on the server at serverUrl (dropped first if it exists). */
export async function freshDatabase(serverUrl: string, name: string, log: Logger): Promise<DatabaseHandle> {
  const url = await recreateDatabase(serverUrl, `switchboard_${name}`);
  const handle = wrapPool(url, createPool(url, 12, log));
  await migrateToLatest(handle.db, handle.pool, log);
  return handle;
}

export interface DemoIntegrations {
  sw: ServiceIntegration;
  ussd: ServiceIntegration;
  /** The two Front channels' API keys, for Front's side of each channel. */
  smsApiKey: string;
  ussdApiKey: string;
}

/** The SignalWire integration on the simulator, both Front channels on it, and a USSD service. */
export async function createDemoIntegrations(engine: Engine, config: Config, signalwire: SignalWireSimulator): Promise<DemoIntegrations> {
  const create = (service: string, flags: Record<string, string>, dependsOn?: string) =>
    createIntegration(engine.db, engine.registry, config, { service, flags, ...(dependsOn ? { dependsOn } : {}) });
  const { integration: sw } = await create('signalwire_message_v1', {
    space: signalwire.url,
    'project-id': signalwire.projectId,
    'api-token': signalwire.apiToken,
    'signing-key': signalwire.signingKey,
  });
  const sms = await create('front_signalwire_message_channel_app_v1', { phone: DEMO_SUPPORT }, String(sw.id));
  const ussdChannel = await create('front_ussd_channel_app_v1', { phone: DEMO_SUPPORT }, String(sw.id));
  // The simulated gateway calls from this machine (an authenticated service, so replies show
  // over USSD) and carries every simulated caller, as a real gateway's address does.
  const { integration: ussd } = await create('ussd_request_v1', { 'ip-allowlist': '127.0.0.1 ::1', 'max-hops-per-address-per-minute': '1000000' });
  return { sw, ussd, smsApiKey: sms.apiKey!, ussdApiKey: ussdChannel.apiKey! };
}

/** Front's side of both channels, authorised against the server at publicUrl. */
export async function connectFrontChannels(front: FrontSimulator, publicUrl: string, integrations: DemoIntegrations): Promise<{ sms: FrontChannelClient; ussd: FrontChannelClient }> {
  const sms = front.channelClient({ webhookUrl: `${publicUrl}/v1/install/front_signalwire/channel`, apiKey: integrations.smsApiKey });
  const ussd = front.channelClient({ webhookUrl: `${publicUrl}/v1/install/front_ussd/channel`, apiKey: integrations.ussdApiKey });
  await sms.authorize(SMS_CHANNEL_ID);
  await ussd.authorize(USSD_CHANNEL_ID);
  return { sms, ussd };
}

/**
 * A WhatsApp number on the simulator; with `flow`, its clients walk the helpline flow (written
 * to a file: `--flow` reads one).
 */
async function createDemoWhatsApp(engine: Engine, config: Config, whatsapp: WhatsAppSimulator, withFlow: boolean): Promise<ServiceIntegration> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-demo-'));
  try {
    const flow = path.join(dir, 'flow.json');
    fs.writeFileSync(flow, JSON.stringify(HELPLINE_FLOW_WITHOUT_REPLIES));
    const flags = { 'phone-number-id': whatsapp.phoneNumberId, 'access-token': whatsapp.accessToken, 'app-secret': whatsapp.appSecret, 'verify-token': 'demo-verify-token', 'api-url': whatsapp.url, ...(withFlow ? { flow } : {}) };
    return (await createIntegration(engine.db, engine.registry, config, { service: 'whatsapp_message_v1', flags })).integration;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The Front WhatsApp channel on the demo's WhatsApp number, authorised in Front. */
async function connectWhatsAppChannel(engine: Engine, config: Config, front: FrontSimulator, wa: ServiceIntegration): Promise<FrontChannelClient> {
  const { apiKey } = await createIntegration(engine.db, engine.registry, config, {
    service: 'front_whatsapp_channel_app_v1',
    flags: { 'reengage-template': 'new_message:en' },
    dependsOn: String(wa.id),
  });
  const channel = front.channelClient({ webhookUrl: `${config.publicUrl}/v1/install/front_whatsapp/channel`, apiKey: apiKey! });
  await channel.authorize(WHATSAPP_CHANNEL_ID);
  return channel;
}

export interface DemoOptions {
  name: string;
  dataDir: string;
  log: Logger;
  port?: number;
  /** A Postgres server to create the demo database on (default DATABASE_URL's, else an embedded one). */
  serverUrl?: string;
  /** Add the Front WhatsApp channel on the demo's WhatsApp number. */
  whatsapp?: boolean;
  /** Clients of the WhatsApp number walk the helpline flow first (default true). */
  whatsappFlow?: boolean;
  /** Add a chatbot handoff (RapidPro simulator, `chatbot_handoff_v1` and its Front channel). */
  chatbot?: boolean;
}

export async function startDemoEnvironment(options: DemoOptions): Promise<DemoEnvironment> {
  const { log } = options;
  const server = options.serverUrl ?? process.env.DATABASE_URL;
  const embedded = server ? null : await acquireEmbeddedPostgres({ dataDir: path.join(options.dataDir, options.name), log });
  const database = await freshDatabase(server ?? embedded!.urlFor('postgres'), options.name, log);
  const [signalwire, front, whatsapp] = await Promise.all([startSignalWireSimulator(), startFrontSimulator(), startWhatsAppSimulator()]);
  const config = loadConfig({
    PORT: String(options.port ?? 0),
    FRONT_API_URL: front.url,
    FRONT_CHANNEL_APP_UID: front.appUid,
    FRONT_CHANNEL_APP_SECRET: front.appSecret,
    SWITCHBOARD_POLL_CRON: '0 0 1 1 *',
  });
  const engine: Engine = { db: database.db, registry: defaultRegistry(), log, config };
  let ready: DemoEnvironment | undefined;
  const app: FastifyInstance = await buildApp({
    engine,
    config,
    demoRoutes: (instance) => demoRoutes(instance, { engine, environment: () => ready }),
  });
  // Listening on the port first (0: any), then telling the config: no race for a "free" port.
  await app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const publicUrl = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
  config.publicUrl = publicUrl;
  const runner: Runner = await startWorker(engine, database.url, config);

  const integrations = await createDemoIntegrations(engine, config, signalwire);
  const channels = await connectFrontChannels(front, publicUrl, integrations);
  const wa = await createDemoWhatsApp(engine, config, whatsapp, options.whatsappFlow ?? true);
  const whatsappChannel = options.whatsapp ? await connectWhatsAppChannel(engine, config, front, wa) : null;
  const chatbot = options.chatbot ? await startDemoChatbot({ engine, config, front, publicUrl }) : null;

  ready = {
    publicUrl,
    adminToken: await issueAdminToken(engine.db, 'demo'),
    databaseUrl: database.url,
    config,
    engine,
    signalwire,
    front,
    sw: integrations.sw,
    smsChannel: channels.sms,
    ussdChannel: channels.ussd,
    ussd: integrations.ussd,
    signalwireHook: `${publicUrl}/v1/service_integrations/${integrations.sw.opaque_id}`,
    whatsapp,
    wa,
    whatsappHook: `${publicUrl}/v1/service_integrations/${wa.opaque_id}`,
    whatsappChannel,
    chatbot,
    async close() {
      await app.close();
      await runner.stop();
      await Promise.all([signalwire.close(), front.close(), whatsapp.close(), chatbot?.close()]);
      await database.close();
      await embedded?.release();
    },
  };
  return ready;
}
