/**
 * Issue 13 item 5: strangers cannot fill the disk through webhook_log. Unauthenticated
 * requests keep a 2 KiB body prefix and no headers, a few rows per address a minute; the
 * table has a size cap; the Front channel route refuses a large body on its API key before
 * reading it. The per-address count is in Postgres: two web processes share it.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.ts';
import { UNTRUSTED_BODY_BYTES, UNTRUSTED_ROWS_PER_MINUTE } from '../../src/http/webhook-log.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { testEngine } from '../helpers/engine.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
const apps: FastifyInstance[] = [];

async function serve(env: Record<string, string> = {}): Promise<{ app: FastifyInstance; base: string }> {
  const engine = testEngine(database().db, env, defaultRegistry());
  const app = await buildApp({ engine, config: engine.config });
  apps.push(app);
  return { app, base: await app.listen({ host: '127.0.0.1', port: 0 }) };
}
afterAll(() => Promise.all(apps.map((a) => a.close())));

const tableSize = async () => (await sql<{ size: number }>`SELECT pg_total_relation_size('webhook_log') AS size`.execute(database().db)).rows[0]!.size;

beforeAll(() => sql`TRUNCATE webhook_log`.execute(database().db));
// Every test's requests come from 127.0.0.1: each starts with that address's minute unused.
beforeEach(() => sql`TRUNCATE webhook_log_sources`.execute(database().db));

describe('webhook_log under unauthenticated traffic', () => {
  it('a burst of large requests to an unknown integration grows it by a bounded amount, without headers', { timeout: 60_000 }, async () => {
    const { app, base } = await serve();
    const before = await tableSize();
    const burst = 200;
    const body = randomBytes(36 * 1024).toString('base64'); // 48 KiB, as in the review
    for (let sent = 0; sent < burst; sent += 20) {
      const responses = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`${base}/v1/service_integrations/svi_doesnotexist`, { method: 'POST', headers: { 'content-type': 'text/plain', 'x-signalwire-signature': 'abc' }, body }),
        ),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(20).fill(404));
    }
    await app.close(); // flushes what is pending

    const { rows } = await sql<{ n: number; longest: number; headers: string[] }>`
      SELECT count(*)::int AS n, max(octet_length(body))::int AS longest, array_agg(DISTINCT headers::text) AS headers FROM webhook_log`.execute(database().db);
    // One address: its rows of this minute (two minutes at most, if the burst straddles one).
    expect(rows[0]!.n).toBeGreaterThanOrEqual(1);
    expect(rows[0]!.n).toBeLessThanOrEqual(2 * UNTRUSTED_ROWS_PER_MINUTE);
    expect(rows[0]!.longest).toBeLessThanOrEqual(UNTRUSTED_BODY_BYTES);
    expect(rows[0]!.headers).toEqual(['{}']);
    // 200 × 48 KiB (9.6 MB) sent; well under a megabyte kept.
    expect((await tableSize()) - before).toBeLessThan(1024 * 1024);
    const metrics = await (await fetch(`${(await serve()).base}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_webhook_log_dropped_total [1-9]\d*/);
  });

  it('two web processes on one database share the per-address limit', { timeout: 60_000 }, async () => {
    await sql`TRUNCATE webhook_log`.execute(database().db);
    const [a, b] = await Promise.all([serve(), serve()]);
    for (const { base } of [a, b]) {
      const responses = await Promise.all(
        Array.from({ length: UNTRUSTED_ROWS_PER_MINUTE }, () => fetch(`${base}/v1/service_integrations/svi_doesnotexist`, { method: 'POST', body: 'x' })),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(UNTRUSTED_ROWS_PER_MINUTE).fill(404));
    }
    await Promise.all([a.app.close(), b.app.close()]);
    // Each process alone would keep all of its own; together, one address's minute holds the limit.
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM webhook_log GROUP BY date_trunc('minute', received_at)`.execute(database().db);
    for (const { n } of rows) expect(n).toBeLessThanOrEqual(UNTRUSTED_ROWS_PER_MINUTE);
    expect(rows.reduce((sum, r) => sum + r.n, 0)).toBeGreaterThanOrEqual(UNTRUSTED_ROWS_PER_MINUTE);
  });

  it('is capped by SWITCHBOARD_WEBHOOK_LOG_MAX_MB, oldest requests first', async () => {
    await sql`TRUNCATE webhook_log`.execute(database().db);
    // 4 MB of old requests, as a month of busy traffic would leave.
    await sql`INSERT INTO webhook_log (received_at, route, method, status, duration_ms, body)
      SELECT now() - make_interval(secs => 10000 - g), '/old', 'POST', 202, 1, repeat(md5(g::text), 32) FROM generate_series(1, 4000) g`.execute(database().db);
    const { rows: oldest } = await sql<{ id: number }>`SELECT min(id)::int AS id FROM webhook_log`.execute(database().db);
    expect(await tableSize()).toBeGreaterThan(2 * 1024 * 1024);

    const { app, base } = await serve({ SWITCHBOARD_WEBHOOK_LOG_MAX_MB: '1' });
    expect((await fetch(`${base}/v1/service_integrations/svi_newest`, { method: 'POST', body: 'x' })).status).toBe(404);
    await app.close();

    const { rows } = await sql<{ first: number; kept: number; newest: string }>`
      SELECT min(id)::int AS first, sum(pg_column_size(w.*))::int AS kept, (SELECT route FROM webhook_log ORDER BY id DESC LIMIT 1) AS newest FROM webhook_log w`.execute(database().db);
    expect(rows[0]!.first).toBeGreaterThan(oldest[0]!.id);
    expect(rows[0]!.kept).toBeLessThanOrEqual(512 * 1024);
    expect(rows[0]!.newest).toBe('/v1/service_integrations/:opaque_id');
  });
});

describe('the Front channel route', () => {
  it('refuses a large body on its API key before the body has even arrived', async () => {
    await sql`TRUNCATE webhook_log`.execute(database().db);
    const { base } = await serve();
    const url = new URL(`${base}/v1/install/front_signalwire/channel`);
    // Announce 1 MiB, send 1 KiB, and wait: the answer must not need the rest.
    const response = await new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
      const request = http.request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(1024 * 1024), authorization: 'Bearer sbk_not_a_key' } },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
        },
      );
      request.on('error', reject);
      request.write(`{"type":"message","payload":{"text":"${'a'.repeat(1000)}`);
    });
    expect(response.status).toBe(401);
    expect(JSON.parse(response.body)).toMatchObject({ error: { code: 'SB_ERR_UNAUTHORIZED', message: 'Invalid API key' } });
    expect(response.connection).toBe('close');
    await waitFor(async () => (await sql`SELECT 1 FROM webhook_log`.execute(database().db)).rows.length === 1, { what: 'the log row' });
    const { rows } = await sql`SELECT status, reason, body, headers FROM webhook_log`.execute(database().db);
    expect(rows).toEqual([{ status: 401, reason: 'Invalid API key', body: null, headers: {} }]);
  });
});
