/**
 * A complete Front ⇄ SignalWire setup over real HTTP: our server on a known port (so
 * PUBLIC_URL is real and signatures match), the SignalWire and Front simulators, and the
 * two integrations wired to them — created through the real CLI, as a user would. With
 * `whatsapp`, the WhatsApp simulator and a whatsapp_message_v1 integration too, and the
 * channel is the Front WhatsApp one.
 */
import type net from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Runner } from 'graphile-worker';
import { sql } from 'kysely';
import type { ServiceIntegration } from '../../src/db/schema.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { runBackfillPass } from '../../src/engine/backfill-runner.ts';
import { buildApp } from '../../src/http/app.ts';
import { startWorker } from '../../src/jobs/worker.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { startFrontSimulator, type FrontSimulator } from '../../src/simulators/front.ts';
import { startSignalWireSimulator, type SignalWireSimulator } from '../../src/simulators/signalwire.ts';
import { startWhatsAppSimulator, type WhatsAppSimulator } from '../../src/simulators/whatsapp.ts';
import { runCli } from './cli.ts';
import type { TestDatabase } from './database.ts';
import { testEngine } from './engine.ts';

export const SUPPORT = '+15550001111';
export const CUSTOMER = '+15550002222';
export const CUSTOMER_2 = '+15550003333';
export const CHANNEL_ID = 'cha_test1';

export interface ChannelSetup {
  engine: Engine;
  databaseUrl: string;
  app: FastifyInstance;
  publicUrl: string;
  signalwire: SignalWireSimulator;
  front: FrontSimulator;
  sw: ServiceIntegration;
  channel: ServiceIntegration;
  apiKey: string;
  ussd: ServiceIntegration | null;
  /** With `whatsapp`: the simulator and the whatsapp_message_v1 integration the channel depends on. */
  whatsapp: WhatsAppSimulator | null;
  wa: ServiceIntegration | null;
  /** The Front client, authenticated with our integration's API key. */
  frontClient: ReturnType<FrontSimulator['channelClient']>;
  /** The real CLI, in-process, with this setup's settings. */
  cli(...args: string[]): ReturnType<typeof runCli>;
  /** Run one pass of an integration here, as the worker would. */
  pass(integration: ServiceIntegration, options?: { incremental?: boolean }): ReturnType<typeof runBackfillPass>;
  reload(integration: ServiceIntegration): Promise<ServiceIntegration>;
  rows(): Promise<Record<string, any>[]>;
  startWorker(): Promise<Runner>;
  close(): Promise<void>;
}

/**
 * `ussd: true` sets up the Front USSD channel (and a USSD service) instead of the SMS one;
 * `channel` and `frontClient` then belong to it, and `ussd` is the USSD service.
 */
export async function setUpChannel(
  database: Pick<TestDatabase, 'db' | 'url'>,
  env: Record<string, string> = {},
  options: { ussd?: boolean; whatsapp?: boolean; channelFlags?: string[] } = {},
): Promise<ChannelSetup> {
  // Each test starts from empty tables (the database is shared by the file's tests).
  await sql`TRUNCATE service_integrations, webhook_log, idempotency_keys, graphile_worker._private_jobs CASCADE`.execute(database.db);
  const signalwire = await startSignalWireSimulator();
  const whatsapp = options.whatsapp ? await startWhatsAppSimulator() : null;
  const front = await startFrontSimulator();
  const engine = testEngine(database.db, { FRONT_API_URL: front.url, FRONT_CHANNEL_APP_UID: front.appUid, FRONT_CHANNEL_APP_SECRET: front.appSecret, ...env }, defaultRegistry());
  const app = await buildApp({ engine, config: engine.config });
  // Listen first, then learn the port: no race with other tests for a "free" one.
  await app.listen({ host: '127.0.0.1', port: 0 });
  const publicUrl = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
  engine.config.publicUrl = publicUrl;
  const settings = {
    PUBLIC_URL: publicUrl,
    FRONT_API_URL: front.url,
    FRONT_CHANNEL_APP_UID: front.appUid,
    FRONT_CHANNEL_APP_SECRET: front.appSecret,
    ...env,
  };

  const cli = (...args: string[]) => runCli(database.url, args, { env: settings, registry: defaultRegistry() });
  const swRun = await cli('integrations', 'create', 'signalwire_message_v1', '--space', signalwire.url, '--project-id', signalwire.projectId, '--api-token', signalwire.apiToken, '--signing-key', signalwire.signingKey, '--json');
  if (swRun.code !== 0) throw new Error(swRun.stderr);
  const waRun = whatsapp
    ? await cli('integrations', 'create', 'whatsapp_message_v1', '--phone-number-id', whatsapp.phoneNumberId, '--access-token', whatsapp.accessToken,
      '--app-secret', whatsapp.appSecret, '--verify-token', 'verify-token-1', '--api-url', whatsapp.url, '--json')
    : null;
  if (waRun && waRun.code !== 0) throw new Error(waRun.stderr);
  const service = options.ussd ? 'front_ussd_channel_app_v1' : whatsapp ? 'front_whatsapp_channel_app_v1' : 'front_signalwire_message_channel_app_v1';
  const channelArgs = waRun ? ['--depends-on', String(waRun.json().id)] : ['--depends-on', String(swRun.json().id), '--phone', SUPPORT];
  const channelRun = await cli('integrations', 'create', service, ...channelArgs, ...(options.channelFlags ?? []), '--json');
  if (channelRun.code !== 0) throw new Error(channelRun.stderr);
  const ussdRun = options.ussd ? await cli('integrations', 'create', 'ussd_request_v1', '--ip-allowlist', '127.0.0.1 ::1', '--json') : null;
  const apiKey = channelRun.json().api_key as string;

  const reload = (integration: ServiceIntegration) =>
    engine.db.selectFrom('service_integrations').selectAll().where('id', '=', integration.id).executeTakeFirstOrThrow();
  const sw = await reload({ id: swRun.json().id } as ServiceIntegration);
  const channel = await reload({ id: channelRun.json().id } as ServiceIntegration);
  const ussd = ussdRun ? await reload({ id: ussdRun.json().id } as ServiceIntegration) : null;
  const wa = waRun ? await reload({ id: waRun.json().id } as ServiceIntegration) : null;
  const path = options.ussd ? 'front_ussd' : whatsapp ? 'front_whatsapp' : 'front_signalwire';
  const runners: Runner[] = [];

  return {
    engine,
    databaseUrl: database.url,
    app,
    publicUrl,
    signalwire,
    front,
    sw,
    channel,
    apiKey,
    ussd,
    whatsapp,
    wa,
    frontClient: front.channelClient({ webhookUrl: `${publicUrl}/v1/install/${path}/channel`, apiKey }),
    cli,
    pass: (integration, options = {}) =>
      runBackfillPass(engine, integration.id, { incremental: options.incremental ?? false, recursive: false, trigger: 'test' }),
    reload,
    rows: async () =>
      (await sql<Record<string, any>>`SELECT * FROM ${sql.table(service)} WHERE integration_id = ${channel.id} ORDER BY pk`.execute(engine.db)).rows,
    async startWorker() {
      const runner = await startWorker(engine, database.url, { workerConcurrency: 4, pollCron: '0 0 1 1 *', webhookLogRetentionDays: 7 });
      runners.push(runner);
      return runner;
    },
    async close() {
      await Promise.all(runners.map((r) => r.stop()));
      await app.close();
      await Promise.all([signalwire.close(), front.close(), whatsapp?.close()]);
    },
  };
}
