/** An Engine over a test database with the example replicators, and integrations to go with it. */
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import type { Database, ServiceIntegration } from '../../src/db/schema.ts';
import { buildApp } from '../../src/http/app.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { createIntegration } from '../../src/engine/integrations.ts';
import { createLogger } from '../../src/log.ts';
import { exampleRegistry } from '../fixtures/example-replicators.ts';

export function testEngine(db: Kysely<Database>, env: Record<string, string> = {}, registry = exampleRegistry()): Engine {
  const config = loadConfig({ PUBLIC_URL: 'http://sb.test', ...env });
  return { db, registry, log: createLogger(process.env.LOG_LEVEL ?? 'silent'), config };
}

/** A message integration reading from `sourceUrl`, and a delivery integration depending on it. */
export async function createExamplePair(engine: Engine, sourceUrl = 'http://127.0.0.1:9') {
  const { integration: messages } = await createIntegration(engine.db, engine.registry, engine.config, {
    service: 'example_message_v1',
    flags: { 'source-url': sourceUrl, 'webhook-secret': 'whsec-test' },
  });
  const { integration: deliveries } = await createIntegration(engine.db, engine.registry, engine.config, {
    service: 'example_delivery_v1',
    dependsOn: String(messages.id),
    flags: { 'api-url': sourceUrl },
  });
  return { messages, deliveries };
}

export interface ExampleServer {
  engine: Engine;
  app: FastifyInstance;
  /** The server's URL. */
  base: string;
  messages: ServiceIntegration;
  deliveries: ServiceIntegration;
}

/** For a test file: the example pair served over HTTP (filled in by beforeAll, closed by afterAll). */
export function useExampleServer(database: () => { db: Kysely<Database> }): ExampleServer {
  const server = {} as ExampleServer;
  beforeAll(async () => {
    server.engine = testEngine(database().db);
    Object.assign(server, await createExamplePair(server.engine));
    server.app = await buildApp({ engine: server.engine, config: { bodyLimit: 4096 } });
    server.base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(() => server.app.close());
  return server;
}
