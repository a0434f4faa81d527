/**
 * The per-process integration cache (src/engine/integration-cache.ts): two servers, each
 * with its own cache as two processes would have, over one database. A change made
 * through one (or any connection) reaches the other's webhooks through Postgres' notice;
 * a pass's bookkeeping sends none.
 */
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceIntegration } from '../../src/db/schema.ts';
import { IntegrationCache, INTEGRATIONS_CHANNEL } from '../../src/engine/integration-cache.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { createIntegration, deleteIntegration, updateIntegration } from '../../src/engine/integrations.ts';
import { buildApp } from '../../src/http/app.ts';
import { signExample } from '../fixtures/example-replicators.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { CHANNEL_ID, CUSTOMER, setUpChannel } from '../helpers/channel.ts';
import { createExamplePair, testEngine } from '../helpers/engine.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
const servers: { engine: Engine; app: FastifyInstance; base: string }[] = [];
let messages: ServiceIntegration;

beforeAll(async () => {
  for (let i = 0; i < 2; i++) {
    const engine = { ...testEngine(database().db), integrations: new IntegrationCache(database().url, testEngine(database().db).log) };
    const app = await buildApp({ engine, config: { bodyLimit: 4096 } });
    servers.push({ engine, app, base: await app.listen({ host: '127.0.0.1', port: 0 }) });
  }
  ({ messages } = await createExamplePair(servers[0]!.engine));
});
afterAll(async () => {
  for (const { engine, app } of servers) {
    await app.close();
    await engine.integrations!.close();
  }
});

async function post(server: number, id: string, secret = 'whsec-test'): Promise<number> {
  const body = JSON.stringify({ messages: [{ id, body: 'hi', version: 1 }] });
  const response = await fetch(`${servers[server]!.base}/v1/service_integrations/${messages.opaque_id}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'x-example-signature': signExample(secret, body) },
  });
  await response.arrayBuffer();
  return response.status;
}

const listeners = async () =>
  Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'switchboard-cache' AND query LIKE 'LISTEN%'`.execute(database().db)).rows[0]!.n);

describe('integration cache', () => {
  it('serves each server from its cache once listening, and a change through the other reaches its next webhooks', async () => {
    expect([await post(0, 'c-1'), await post(1, 'c-2')]).toEqual([202, 202]);
    await waitFor(async () => (await listeners()) === 2, { what: 'both caches listening' });
    expect([await post(0, 'c-3'), await post(1, 'c-4')]).toEqual([202, 202]);
    // Proof the cache serves: a change that notifies nobody goes unseen by both.
    await sql`ALTER TABLE service_integrations DISABLE TRIGGER service_integrations_configured`.execute(database().db);
    await sql`UPDATE service_integrations SET webhook_secret = 'whsec-unseen' WHERE id = ${messages.id}`.execute(database().db);
    await sql`ALTER TABLE service_integrations ENABLE TRIGGER service_integrations_configured`.execute(database().db);
    expect([await post(0, 'c-3b'), await post(1, 'c-4b')]).toEqual([202, 202]);

    await updateIntegration(servers[1]!.engine.db, servers[1]!.engine.registry, servers[1]!.engine.config, messages, { 'webhook-secret': 'whsec-rotated' });
    // The notice's trip: wait for it to arrive, then every webhook sees the new secret.
    await waitFor(async () => (await post(0, 'c-5', 'whsec-rotated')) === 202, { timeoutMs: 5000, what: 'server 0 to see the new secret' });
    expect(await post(0, 'c-6', 'whsec-test')).toBe(401);
    expect(await post(1, 'c-7', 'whsec-rotated')).toBe(202);
    expect(await post(1, 'c-8', 'whsec-test')).toBe(401);
  });

  it('tells a batch about a dependent created elsewhere, and answers 404 once the integration is deleted elsewhere', async () => {
    const { engine } = servers[1]!;
    const { integration: late } = await createIntegration(engine.db, engine.registry, engine.config, {
      service: 'example_delivery_v1',
      dependsOn: String(messages.id),
      flags: { 'api-url': 'http://127.0.0.1:9' },
    });
    await waitFor(
      async () => {
        await post(0, `d-${Date.now()}`, 'whsec-rotated');
        const { rows } = await sql`SELECT 1 FROM example_delivery_v1 WHERE integration_id = ${late.id}`.execute(database().db);
        return rows.length > 0;
      },
      { timeoutMs: 5000, what: "server 0 to tell the new dependent" },
    );

    await deleteIntegration(engine.db, engine.registry, messages);
    await waitFor(async () => (await post(0, 'gone', 'whsec-rotated')) === 404, { timeoutMs: 5000, what: 'server 0 to see the deletion' });
    expect(await post(1, 'gone', 'whsec-rotated')).toBe(404);
  });

  // Last: setting up the channel empties the tables the tests above used.
  it("stops taking a Front channel's API key, rolled elsewhere, at a caching server", async () => {
    const setup = await setUpChannel(database());
    const engine = { ...setup.engine, integrations: new IntegrationCache(database().url, setup.engine.log) };
    const app = await buildApp({ engine, config: engine.config });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const listening = await listeners();
      const front = (apiKey: string) => setup.front.channelClient({ webhookUrl: `${base}/v1/install/front_signalwire/channel`, apiKey });
      expect((await front(setup.apiKey).authorize(CHANNEL_ID)).status).toBe(200);
      await waitFor(async () => (await listeners()) === listening + 1, { what: 'the cache listening' });
      expect((await front(setup.apiKey).message({ id: 'msg_cached', channelId: CHANNEL_ID, text: 'hi', to: [CUSTOMER] })).status).toBe(200);

      const rolled = await setup.cli('integrations', 'roll-key', String(setup.channel.id), '--json');
      const newKey = rolled.json().api_key as string;
      await waitFor(async () => (await front(newKey).message({ id: `msg_new_${Date.now()}`, channelId: CHANNEL_ID, text: 'hi', to: [CUSTOMER] })).status === 200, {
        timeoutMs: 5000,
        what: 'the new key taken',
      });
      expect((await front(setup.apiKey).message({ id: 'msg_old_key', channelId: CHANNEL_ID, text: 'hi', to: [CUSTOMER] })).status).toBe(401);
    } finally {
      await app.close();
      await engine.integrations.close();
      await setup.close();
    }
  });

  it('notifies on configuration, not on a pass\'s bookkeeping', async () => {
    const { engine } = servers[0]!;
    const { integration } = await createIntegration(engine.db, engine.registry, engine.config, {
      service: 'example_message_v1',
      flags: { 'source-url': 'http://127.0.0.1:9', 'webhook-secret': 'whsec-other' },
    });
    const client = new pg.Client({ connectionString: database().url });
    await client.connect();
    try {
      const notices: string[] = [];
      client.on('notification', (notice) => notices.push(notice.channel));
      await client.query(`LISTEN ${INTEGRATIONS_CHANNEL}`);
      await sql`UPDATE service_integrations SET last_backfilled_at = now(), last_error_code = 'X', backfill_requested = '{}' WHERE id = ${integration.id}`.execute(engine.db);
      await sql`UPDATE service_integrations SET settings = settings || '{"a": "b"}' WHERE id = ${integration.id}`.execute(engine.db);
      await waitFor(() => notices.length > 0, { what: 'the notice' });
      expect(notices).toEqual([INTEGRATIONS_CHANNEL]);
    } finally {
      await client.end();
    }
  });
});
