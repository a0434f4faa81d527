/**
 * Closing the server while a request is in flight: the response still goes out, and says
 * `connection: close`, so the keep-alive connection does not hold the shutdown for Fastify's
 * 72 s keep-alive timeout (the demo's exit waited on a Front notice in flight this way).
 */
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { testEngine } from '../helpers/engine.ts';

const database = useTestDatabase();

describe('closing the HTTP server', () => {
  it('answers a request in flight with connection: close, and the close completes', async () => {
    const engine = testEngine(database().db, {}, defaultRegistry());
    const app = await buildApp({ engine, config: engine.config });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => (arrived = resolve));
    app.get('/test/held', async () => {
      arrived();
      await held;
      return { o: 'k' };
    });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const agent = new http.Agent({ keepAlive: true });
    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${base}/test/held`, { agent }, resolve).on('error', reject);
    });
    await inFlight;
    const closed = app.close();
    // The close has begun once the server stops listening (its preClose hooks have run).
    while (app.server.listening) await new Promise((resolve) => setImmediate(resolve));
    release();
    const answer = await response;
    answer.resume();
    expect(answer.statusCode).toBe(200);
    expect(answer.headers.connection).toBe('close');
    await closed;
    agent.destroy();
  });
});
