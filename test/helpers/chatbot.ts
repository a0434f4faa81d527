/**
 * A chatbot handoff over real HTTP: our server on a real port, the Front and RapidPro
 * simulators, a `chatbot_handoff_v1` integration (credentials issued by the real CLI) and
 * its `front_chatbot_channel_app_v1`, connected to Front; a small client speaking the
 * chatbot-facing API, and the simulator's bot driver for flows.
 */
import { createServer } from 'node:http';
import type net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { ServiceIntegration } from '../../src/db/schema.ts';
import { runBackfillPass } from '../../src/engine/backfill-runner.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { buildApp } from '../../src/http/app.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { CHATBOT_CHANNEL_PATH } from '../../src/replicators/front-chatbot-channel-app-v1/index.ts';
import { startFrontSimulator, type FrontSimulator } from '../../src/simulators/front.ts';
import { startRapidProSimulator, type ChatbotDriver, type RapidProSimulator, type RapidProSimulatorOptions } from '../../src/simulators/rapidpro.ts';
import { runCli } from './cli.ts';
import type { TestDatabase } from './database.ts';
import { testEngine } from './engine.ts';

export const CHATBOT_CHANNEL_ID = 'cha_chatbot1';

export interface BotAnswer {
  status: number;
  body: any;
}

export interface ChatbotSetup {
  engine: Engine;
  app: FastifyInstance;
  publicUrl: string;
  front: FrontSimulator;
  rapidpro: RapidProSimulator;
  handoff: ServiceIntegration;
  channel: ServiceIntegration;
  /** What `integrations create chatbot_handoff_v1 --json` printed. */
  created: Record<string, any>;
  /** Front's client for the channel, authenticated with its API key (authorised already, as CHATBOT_CHANNEL_ID unless told). */
  frontClient: ReturnType<FrontSimulator['channelClient']>;
  cli(...args: string[]): ReturnType<typeof runCli>;
  /** A request to the chatbot-facing API, relative to api_base_url; `token` adds Authorization: Token. */
  call(method: string, path: string, options?: { json?: unknown; text?: string; contentType?: string; token?: string | null }): Promise<BotAnswer>;
  /** A fresh token for the issued credentials. */
  token(): Promise<string>;
  /** The RapidPro simulator's bot, signed in with the issued credentials. */
  bot(options?: { dropRate?: number }): ChatbotDriver;
  /** One pass of an integration here, as the worker would. */
  pass(integration: ServiceIntegration): ReturnType<typeof runBackfillPass>;
  /** The stored requests, oldest first. */
  requests(): Promise<Record<string, any>[]>;
  handoffs(): Promise<Record<string, any>[]>;
  /** The channel's rows, oldest first. */
  rows(): Promise<Record<string, any>[]>;
  close(): Promise<void>;
}

export async function setUpChatbot(
  database: Pick<TestDatabase, 'db' | 'url'>,
  flags: string[] = [],
  options: { env?: Record<string, string>; rapidpro?: RapidProSimulatorOptions; channelId?: string } = {},
): Promise<ChatbotSetup> {
  await sql`TRUNCATE service_integrations, webhook_log, idempotency_keys, graphile_worker._private_jobs CASCADE`.execute(database.db);
  const front = await startFrontSimulator();
  const rapidpro = await startRapidProSimulator({ rateLimit: null, ...options.rapidpro });
  const env = { FRONT_API_URL: front.url, FRONT_CHANNEL_APP_UID: front.appUid, FRONT_CHANNEL_APP_SECRET: front.appSecret, ...options.env };
  const engine = testEngine(database.db, env, defaultRegistry());
  const app = await buildApp({ engine, config: engine.config });
  // Listen first, then learn the port: no race with other tests for a "free" one.
  await app.listen({ host: '127.0.0.1', port: 0 });
  const publicUrl = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
  engine.config.publicUrl = publicUrl;
  const settings = { PUBLIC_URL: publicUrl, ...env };
  const cli = (...args: string[]) => runCli(database.url, args, { env: settings, registry: defaultRegistry() });
  const run = await cli('integrations', 'create', 'chatbot_handoff_v1', '--rapidpro-url', rapidpro.url, '--rapidpro-token', rapidpro.token, ...flags, '--json');
  if (run.code !== 0) throw new Error(`create failed: ${run.stderr}`);
  const created = run.json<Record<string, any>>();
  const channelRun = await cli('integrations', 'create', 'front_chatbot_channel_app_v1', '--depends-on', String(created.id), '--json');
  if (channelRun.code !== 0) throw new Error(`channel create failed: ${channelRun.stderr}`);
  const frontClient = front.channelClient({ webhookUrl: `${publicUrl}${CHATBOT_CHANNEL_PATH}`, apiKey: channelRun.json().api_key as string });
  await frontClient.authorize(options.channelId ?? CHATBOT_CHANNEL_ID);
  const reload = (id: number) => database.db.selectFrom('service_integrations').selectAll().where('id', '=', id).executeTakeFirstOrThrow() as Promise<ServiceIntegration>;
  const handoff = await reload(created.id);
  const channel = await reload(channelRun.json().id);

  const call: ChatbotSetup['call'] = async (method, path, callOptions = {}) => {
    const headers: Record<string, string> = {};
    if (callOptions.token) headers.authorization = `Token ${callOptions.token}`;
    let body: string | undefined;
    if (callOptions.json !== undefined) {
      body = JSON.stringify(callOptions.json);
      headers['content-type'] = 'application/json';
    } else if (callOptions.text !== undefined) {
      body = callOptions.text;
      headers['content-type'] = callOptions.contentType ?? 'text/plain';
    }
    const response = await fetch(`${created.api_base_url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };

  return {
    engine,
    app,
    publicUrl,
    front,
    rapidpro,
    handoff,
    channel,
    created,
    frontClient,
    cli,
    call,
    async token() {
      const answer = await call('POST', 'token/', { json: { username: created.username, password: created.password } });
      if (answer.status !== 200) throw new Error(`token: ${answer.status}`);
      return answer.body.token as string;
    },
    bot: (botOptions = {}) => rapidpro.bot({ apiBaseUrl: created.api_base_url, username: created.username, password: created.password, source: 'WENI', ...botOptions }),
    pass: (integration) => runBackfillPass(engine, integration.id, { incremental: false, recursive: false, trigger: 'test' }),
    requests: async () => (await sql<Record<string, any>>`SELECT * FROM chatbot_handoff_v1 ORDER BY pk`.execute(database.db)).rows,
    handoffs: async () => (await sql<Record<string, any>>`SELECT * FROM chatbot_handoffs ORDER BY chat_session, handoff`.execute(database.db)).rows,
    rows: async () => (await sql<Record<string, any>>`SELECT * FROM front_chatbot_channel_app_v1 ORDER BY pk`.execute(database.db)).rows,
    async close() {
      await app.close();
      await Promise.all([front.close(), rapidpro.close()]);
    },
  };
}

export interface AckEndpoint {
  /** The `--ack-url` to give the integration. */
  url: string;
  received: { authorization: string | undefined; body: any }[];
  /** How long each answer takes (what it got is recorded first: it reached the platform). */
  latencyMs: number;
  close(): Promise<void>;
}

/** The bot platform's acknowledgement endpoint: records what it gets, answers `answers` in turn (then 200). */
export async function startAckEndpoint(answers: number[] = []): Promise<AckEndpoint> {
  const received: AckEndpoint['received'] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      received.push({ authorization: req.headers.authorization, body: JSON.parse(text) });
      setTimeout(() => res.writeHead(answers.shift() ?? 200).end('{}'), endpoint.latencyMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint: AckEndpoint = {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/acks`,
    received,
    latencyMs: 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return endpoint;
}
