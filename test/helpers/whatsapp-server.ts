/**
 * The WhatsApp tests' world: the WhatsApp simulator and a real HTTP server on a test engine
 * whose PUBLIC_URL is its own address (webhook URLs printed by `integrations create` reach it).
 */
import type net from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.ts';
import type { Engine } from '../../src/engine/engine.ts';
import type { Registry } from '../../src/engine/registry.ts';
import { buildApp } from '../../src/http/app.ts';
import { startWhatsAppSimulator, type WhatsAppSimulator } from '../../src/simulators/whatsapp.ts';
import { testEngine } from './engine.ts';

export interface WhatsAppServer {
  sim: WhatsAppSimulator;
  engine: Engine;
  app: FastifyInstance;
  publicUrl: string;
  close(): Promise<void>;
}

export async function startWhatsAppServer(db: Kysely<Database>, registry: Registry): Promise<WhatsAppServer> {
  const sim = await startWhatsAppSimulator();
  const engine = testEngine(db, {}, registry);
  const app = await buildApp({ engine, config: engine.config });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const publicUrl = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
  engine.config.publicUrl = publicUrl;
  return {
    sim,
    engine,
    app,
    publicUrl,
    async close() {
      await app.close();
      await sim.close();
    },
  };
}
