/**
 * Issue 13 item 8: admin-token guessing is rate-limited per address. After ten wrong tokens
 * in a minute an address waits a minute (429 with Retry-After), the right token included;
 * other addresses are not affected; refused attempts are logged without the token. The count
 * is in Postgres: two web processes (two apps on one database) share it.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.ts';
import { ADMIN_ATTEMPTS_PER_MINUTE, ADMIN_LOCKOUT_MS } from '../../src/web/admin-token.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { testEngine } from '../helpers/engine.ts';

const TOKEN = 'the-right-admin-token-0123456789';
const database = useTestDatabase();
const apps: FastifyInstance[] = [];
let base: string;
let other: string;
let logs = '';

beforeAll(async () => {
  const engine = testEngine(database().db, { SWITCHBOARD_ADMIN_TOKEN: TOKEN });
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => ((logs += chunk.toString()), done()) });
  // The proxy at 127.0.0.1 (this test) says which client each request is from.
  const start = async () => {
    const app = await buildApp({ engine: { ...engine, log: pino({ level: 'info' }, sink) }, config: { bodyLimit: 4096, trustProxy: ['127.0.0.1'] } });
    apps.push(app);
    return app.listen({ host: '127.0.0.1', port: 0 });
  };
  [base, other] = await Promise.all([start(), start()]);
});
afterAll(() => Promise.all(apps.map((app) => app.close())));

const session = (client: string, token: string, server = base) =>
  fetch(`${server}/api/v1/dashboard/session`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': client } });

describe('admin token attempts', () => {
  it('lock an address out after ten wrong tokens, briefly, and leave other addresses alone', async () => {
    const guesser = '203.0.113.7';
    for (let i = 0; i < ADMIN_ATTEMPTS_PER_MINUTE; i++) expect((await session(guesser, `sbadm_guess${i}`)).status).toBe(401);
    const locked = await session(guesser, 'sbadm_guess-more');
    expect(locked.status).toBe(429);
    expect(await locked.json()).toMatchObject({ error: { code: 'SB_ERR_RATE_LIMITED', message: expect.stringMatching(/too many wrong admin tokens/) } });
    // The right token from that address waits too, but not long.
    const right = await session(guesser, TOKEN);
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(right.headers.get('retry-after'))).toBeLessThanOrEqual(ADMIN_LOCKOUT_MS / 1000);
    // Another address signs in at once, and its own mistakes are counted on their own.
    expect((await session('198.51.100.1', 'sbadm_typo')).status).toBe(401);
    expect((await session('198.51.100.1', TOKEN)).status).toBe(200);
  });

  it('are counted across web processes: guesses spread over two add up to one limit', async () => {
    const guesser = '203.0.113.99';
    for (let i = 0; i < ADMIN_ATTEMPTS_PER_MINUTE; i++) expect((await session(guesser, `sbadm_spread${i}`, i % 2 ? other : base)).status).toBe(401);
    expect((await session(guesser, TOKEN, base)).status).toBe(429);
    expect((await session(guesser, TOKEN, other)).status).toBe(429);
  });

  it('forget a wrong token once the right one is given, on every process', async () => {
    const typist = '198.51.100.20';
    for (let i = 0; i < ADMIN_ATTEMPTS_PER_MINUTE - 1; i++) expect((await session(typist, `sbadm_typo${i}`, other)).status).toBe(401);
    expect((await session(typist, TOKEN, base)).status).toBe(200);
    // Nine more mistakes are not ten: the count started again.
    for (let i = 0; i < ADMIN_ATTEMPTS_PER_MINUTE - 1; i++) expect((await session(typist, `sbadm_typo${i}`, other)).status).toBe(401);
    expect((await session(typist, TOKEN, other)).status).toBe(200);
  });

  it('logs refused attempts with the address, never the token', async () => {
    const refused = logs.split('\n').filter((line) => line.includes('admin token refused'));
    expect(refused.length).toBeGreaterThanOrEqual(ADMIN_ATTEMPTS_PER_MINUTE + 1);
    expect(refused[0]).toContain('203.0.113.7');
    expect(logs).not.toMatch(/sbadm_guess|sbadm_typo/);
    expect(logs).not.toContain(TOKEN);
  });
});
