import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createPool, wrapPool } from '../../src/db/connect.ts';
import { buildApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { signExample } from '../fixtures/example-replicators.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { useExampleServer } from '../helpers/engine.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
const server = useExampleServer(database);

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${server.base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
const signed = (body: string) => ({ 'x-example-signature': signExample('whsec-test', body) });
const hook = () => `/v1/service_integrations/${server.messages.opaque_id}`;

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/application\/json/);
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
}

describe('GET /healthz', () => {
  it('answers 200 while the database answers', async () => {
    const response = await fetch(`${server.base}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});

describe('POST /v1/service_integrations/:opaque_id', () => {
  it('stores a signed payload, one row per message, tells dependents, and answers 202', async () => {
    const body = JSON.stringify({ messages: [{ id: 'w1', body: 'hi', version: 1 }, { id: 'w2', body: 'yo', version: 1 }] });
    const response = await post(hook(), body, signed(body));
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ o: 'k' });
    const stored = await sql<{ message_id: string }>`SELECT message_id FROM example_message_v1 WHERE integration_id = ${server.messages.id} ORDER BY message_id`.execute(server.engine.db);
    expect(stored.rows.map((r) => r.message_id)).toEqual(['w1', 'w2']);
    const pending = await sql<{ message_id: string }>`SELECT message_id FROM example_delivery_v1 WHERE integration_id = ${server.deliveries.id} ORDER BY message_id`.execute(server.engine.db);
    expect(pending.rows.map((r) => r.message_id)).toEqual(['w1', 'w2']);
  });

  it('answers 404 for an unknown integration', async () => {
    await expectError(await post('/v1/service_integrations/svi_unknown', '{}'), 404, 'SB_ERR_NOT_FOUND');
  });

  it('answers 405 for an integration that takes no webhooks', async () => {
    await expectError(await post(`/v1/service_integrations/${server.deliveries.opaque_id}`, '{}'), 405, 'SB_ERR_METHOD_NOT_ALLOWED');
  });

  it('answers 401 for a missing or wrong signature, and stores nothing', async () => {
    const body = JSON.stringify({ messages: [{ id: 'evil', version: 1 }] });
    await expectError(await post(hook(), body), 401, 'SB_ERR_UNAUTHORIZED');
    await expectError(await post(hook(), body, { 'x-example-signature': signExample('wrong', body) }), 401, 'SB_ERR_UNAUTHORIZED');
    const { rows } = await sql`SELECT 1 FROM example_message_v1 WHERE message_id = 'evil'`.execute(server.engine.db);
    expect(rows).toHaveLength(0);
  });

  it('answers 400 for malformed JSON and 415 for an unknown content type', async () => {
    await expectError(await post(hook(), '{"messages": [', signed('{"messages": [')), 400, 'SB_ERR_BAD_REQUEST');
    await expectError(await post(hook(), 'x', { 'content-type': 'text/plain' }), 415, 'SB_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers 422 for a body that parses but lacks required fields', async () => {
    const body = JSON.stringify({ messages: [{ body: 'no id' }] });
    await expectError(await post(hook(), body, signed(body)), 422, 'SB_ERR_INVALID_PAYLOAD');
  });

  it('answers 413 for a body over the limit', async () => {
    const body = JSON.stringify({ messages: [{ id: 'big', version: 1, body: 'x'.repeat(5000) }] });
    await expectError(await post(hook(), body, signed(body)), 413, 'SB_ERR_BODY_TOO_LARGE');
  });

  it('logs every request with its integration, status and reason', async () => {
    const logged = await waitFor(
      async () => {
        const rows = await server.engine.db.selectFrom('webhook_log').selectAll().orderBy('id').execute();
        return rows.length >= 9 ? rows : null;
      },
      { what: 'webhook log' },
    );
    expect(logged.map((r) => [r.status, r.integration_id, r.reason])).toEqual([
      [202, server.messages.id, null],
      [404, null, 'no integration with that id'],
      [405, server.deliveries.id, 'example_delivery_v1 does not accept webhooks'],
      [401, server.messages.id, 'missing signature'],
      [401, server.messages.id, 'invalid signature'],
      [400, server.messages.id, expect.stringMatching(/^malformed JSON body/)],
      [415, server.messages.id, expect.stringMatching(/^unsupported content type/)],
      [422, server.messages.id, 'each message needs a string id and a numeric version'],
      [413, null, expect.stringMatching(/too large/i)],
    ]);
    expect(logged[0]!.body).toContain('"w1"');
    expect(logged[0]!.duration_ms).toBeGreaterThan(0);
  });
});

describe('with the database down', () => {
  it('answers 503 with Retry-After on webhooks and health checks', async () => {
    const deadUrl = 'postgres://nobody:x@127.0.0.1:1/none';
    const dead = wrapPool(deadUrl, createPool(deadUrl, 2, createLogger('silent')));
    const deadApp = await buildApp({ engine: { ...server.engine, db: dead.db }, config: { bodyLimit: 4096 } });
    try {
      const health = await deadApp.inject({ method: 'GET', url: '/healthz' });
      expect(health.statusCode).toBe(503);
      const webhook = await deadApp.inject({ method: 'POST', url: hook(), payload: '{}', headers: { 'content-type': 'application/json' } });
      expect(webhook.statusCode).toBe(503);
      expect(webhook.headers['retry-after']).toBe('5');
      expect(webhook.json()).toMatchObject({ error: { code: 'SB_ERR_DATABASE_UNAVAILABLE' } });
    } finally {
      await deadApp.close();
      await dead.close();
    }
  });
});

// Last: its requests would show in the webhook log the tests above count.
describe('GET /v1/service_integrations/:opaque_id', () => {
  it('answers 405 for a replicator without a subscription handshake, 404 for an unknown id', async () => {
    await expectError(await fetch(`${server.base}${hook()}?hub.mode=subscribe&hub.challenge=1`), 405, 'SB_ERR_METHOD_NOT_ALLOWED');
    await expectError(await fetch(`${server.base}/v1/service_integrations/svi_nosuch?hub.mode=subscribe`), 404, 'SB_ERR_NOT_FOUND');
  });
});
