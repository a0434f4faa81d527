/**
 * A real server on a real port with one fresh `ussd_request_v1` integration per test, for
 * tests that drive USSD over HTTP; and the rows those hops leave.
 */
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { ServiceIntegration } from '../../src/db/schema.ts';
import { createIntegration } from '../../src/engine/integrations.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { buildApp } from '../../src/http/app.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import type { useTestDatabase } from './database.ts';
import { testEngine } from './engine.ts';

export interface UssdServer {
  engine: Engine;
  /** http://127.0.0.1:<port> */
  base: string;
  /** This test's integration: callers from 127.0.0.1 only, region GH by default. */
  ussd: ServiceIntegration;
  /** Every stored hop, oldest first. */
  hops(): Promise<Record<string, any>[]>;
}

export function useUssdServer(database: ReturnType<typeof useTestDatabase>): () => UssdServer {
  let app: FastifyInstance;
  const server = {} as UssdServer;
  beforeAll(async () => {
    server.engine = testEngine(database().db, { DEFAULT_PHONE_REGION: 'GH' }, defaultRegistry());
    app = await buildApp({ engine: server.engine, config: server.engine.config });
    server.base = await app.listen({ host: '127.0.0.1', port: 0 });
    server.hops = async () => (await sql<Record<string, any>>`SELECT * FROM ussd_request_v1 ORDER BY pk`.execute(server.engine.db)).rows;
  });
  afterAll(() => app.close());
  beforeEach(async () => {
    await sql`TRUNCATE service_integrations CASCADE`.execute(server.engine.db);
    // Callers limited to this machine, as a deployment limits them to its gateway's addresses.
    const flags = { 'ip-allowlist': '127.0.0.1' };
    ({ integration: server.ussd } = await createIntegration(server.engine.db, server.engine.registry, server.engine.config, { service: 'ussd_request_v1', flags }));
  });
  return () => server;
}
