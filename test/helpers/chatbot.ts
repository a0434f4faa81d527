/**
 * A chatbot handoff over real HTTP: our server on a real port, a `chatbot_handoff_v1`
 * integration created through the real CLI (credentials issued by it), and a small client
 * speaking the chatbot-facing API as a bot would.
 */
import type net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { ServiceIntegration } from '../../src/db/schema.ts';
import type { Engine } from '../../src/engine/ingest.ts';
import { buildApp } from '../../src/http/app.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { runCli } from './cli.ts';
import type { TestDatabase } from './database.ts';
import { testEngine } from './engine.ts';

export interface BotAnswer {
  status: number;
  body: any;
}

export interface ChatbotSetup {
  engine: Engine;
  app: FastifyInstance;
  publicUrl: string;
  handoff: ServiceIntegration;
  /** What `integrations create --json` printed. */
  created: Record<string, any>;
  cli(...args: string[]): ReturnType<typeof runCli>;
  /** A request to the chatbot-facing API, relative to api_base_url; `token` adds Authorization: Token. */
  call(method: string, path: string, options?: { json?: unknown; text?: string; contentType?: string; token?: string | null }): Promise<BotAnswer>;
  /** A fresh token for the issued credentials. */
  token(): Promise<string>;
  /** The stored requests, oldest first. */
  requests(): Promise<Record<string, any>[]>;
  handoffs(): Promise<Record<string, any>[]>;
  close(): Promise<void>;
}

export async function setUpChatbot(database: Pick<TestDatabase, 'db' | 'url'>, flags: string[] = [], env: Record<string, string> = {}): Promise<ChatbotSetup> {
  await sql`TRUNCATE service_integrations, webhook_log, idempotency_keys, graphile_worker._private_jobs CASCADE`.execute(database.db);
  const engine = testEngine(database.db, env, defaultRegistry());
  const app = await buildApp({ engine, config: engine.config });
  // Listen first, then learn the port: no race with other tests for a "free" one.
  await app.listen({ host: '127.0.0.1', port: 0 });
  const publicUrl = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
  engine.config.publicUrl = publicUrl;
  const settings = { PUBLIC_URL: publicUrl, ...env };
  const cli = (...args: string[]) => runCli(database.url, args, { env: settings, registry: defaultRegistry() });
  const run = await cli('integrations', 'create', 'chatbot_handoff_v1', '--rapidpro-url', 'http://127.0.0.1:9', '--rapidpro-token', 'rp-token', ...flags, '--json');
  if (run.code !== 0) throw new Error(`create failed: ${run.stderr}`);
  const created = run.json<Record<string, any>>();
  const handoff = (await database.db.selectFrom('service_integrations').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow()) as ServiceIntegration;

  const call: ChatbotSetup['call'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Token ${options.token}`;
    let body: string | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    } else if (options.text !== undefined) {
      body = options.text;
      headers['content-type'] = options.contentType ?? 'text/plain';
    }
    const response = await fetch(`${created.api_base_url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  };

  return {
    engine,
    app,
    publicUrl,
    handoff,
    created,
    cli,
    call,
    async token() {
      const answer = await call('POST', 'token/', { json: { username: created.username, password: created.password } });
      if (answer.status !== 200) throw new Error(`token: ${answer.status}`);
      return answer.body.token as string;
    },
    requests: async () => (await sql<Record<string, any>>`SELECT * FROM chatbot_handoff_v1 ORDER BY pk`.execute(database.db)).rows,
    handoffs: async () => (await sql<Record<string, any>>`SELECT * FROM chatbot_handoffs ORDER BY chat_session, handoff`.execute(database.db)).rows,
    close: () => app.close(),
  };
}
