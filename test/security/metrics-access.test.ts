/**
 * Issue 13 item 10: /metrics need not be open on the public listener. A bearer token
 * (SWITCHBOARD_METRICS_TOKEN), a listener of its own on 127.0.0.1 (SWITCHBOARD_METRICS_PORT,
 * through a real `switchboard start`), and per-integration figures read at most every few
 * seconds however often it is scraped.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.ts';
import { GAP_CACHE_MS } from '../../src/metrics.ts';
import { signExample } from '../fixtures/example-replicators.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { createExamplePair, testEngine } from '../helpers/engine.ts';
import { freePort, spawnExampleCli, untilAnswers, type Child } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait.ts';

const database = useTestDatabase();
const apps: FastifyInstance[] = [];
const children: Child[] = [];
afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await Promise.all(apps.map((a) => a.close()));
});

async function serve(env: Record<string, string> = {}): Promise<string> {
  const app = await buildApp({ engine: testEngine(database().db, env), config: { bodyLimit: 4096 } });
  apps.push(app);
  return app.listen({ host: '127.0.0.1', port: 0 });
}

describe('GET /metrics', () => {
  it('wants the bearer token when SWITCHBOARD_METRICS_TOKEN is set', async () => {
    const token = 'metrics-token-0123456789abcdef';
    const base = await serve({ SWITCHBOARD_METRICS_TOKEN: token });
    const none = await fetch(`${base}/metrics`);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: { code: 'SB_ERR_UNAUTHORIZED', message: expect.stringContaining('SWITCHBOARD_METRICS_TOKEN') } });
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
    const scraped = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('switchboard_http_requests_total');
  });

  it('reads the per-integration figures at most every few seconds, however often it is scraped', async () => {
    const engine = testEngine(database().db);
    const { messages, deliveries } = await createExamplePair(engine);
    const base = await serve();
    const pending = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return Number(text.split('\n').find((l) => l.startsWith(`switchboard_pending_rows{integration_id="${deliveries.id}"`))?.split(' ')[1] ?? 0);
    };
    const before = await pending();
    const body = JSON.stringify({ messages: [{ id: 'm-cache', body: 'hi', version: 1 }] });
    const stored = await fetch(`${base}/v1/service_integrations/${messages.opaque_id}`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-example-signature': signExample('whsec-test', body) } });
    expect(stored.status).toBe(202);
    // A new pending row, scraped at once: the figures of the read a moment ago (GAP_CACHE_MS = 5 s).
    expect(GAP_CACHE_MS).toBeGreaterThanOrEqual(2000);
    expect(await pending()).toBe(before);
    // A later read sees it.
    await waitFor(async () => (await pending()) === before + 1, { intervalMs: 500, what: 'the next read of the gap' });
  });

  it('doctor warns when it is open on a public interface', async () => {
    const metricsCheck = async (env: Record<string, string>) =>
      ((await runCli(database().url, ['doctor', '--json'], { env })).json().findings as { check: string; status: string; detail: string }[]).find((f) => f.check === 'metrics');
    expect(await metricsCheck({ HOST: '0.0.0.0' })).toMatchObject({ status: 'warn', detail: expect.stringContaining('SWITCHBOARD_METRICS_TOKEN or SWITCHBOARD_METRICS_PORT') });
    expect(await metricsCheck({ HOST: '0.0.0.0', SWITCHBOARD_METRICS_TOKEN: 'metrics-token-0123456789abcdef' })).toMatchObject({ status: 'ok' });
    expect(await metricsCheck({ HOST: '0.0.0.0', SWITCHBOARD_METRICS_PORT: '9464' })).toMatchObject({ status: 'ok', detail: 'on 127.0.0.1:9464' });
  });

  it('with SWITCHBOARD_METRICS_PORT, is served on 127.0.0.1 at that port and not on the public listener', { timeout: 90_000 }, async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const child = spawnExampleCli(['start', '--no-worker'], { DATABASE_URL: database().url, PORT: String(port), SWITCHBOARD_METRICS_PORT: String(metricsPort), LOG_LEVEL: 'warn' });
    children.push(child);
    await untilAnswers(child, `http://127.0.0.1:${metricsPort}/metrics`, 60_000);
    expect(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()).toContain('\nprocess_resident_memory_bytes ');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    expect(child.output()).toContain(`metrics on http://127.0.0.1:${metricsPort}/metrics`);
    expect(await child.stop('SIGTERM')).toBe(0);
  });
});
