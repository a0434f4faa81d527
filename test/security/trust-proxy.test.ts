/**
 * Issue 13 item 2: SWITCHBOARD_TRUST_PROXY cannot let a client choose its address. `true`
 * is refused at start; a hop count or the proxies' addresses take the address the proxy
 * saw, not the one the client wrote first in X-Forwarded-For.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config } from '../../src/config.ts';
import { createIntegration } from '../../src/engine/integrations.ts';
import { buildApp } from '../../src/http/app.ts';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { testEngine } from '../helpers/engine.ts';
import { spawnNode } from '../helpers/processes.ts';

const database = useTestDatabase();
let opaqueId: string;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  const engine = testEngine(database().db, {}, defaultRegistry());
  const { integration } = await createIntegration(engine.db, engine.registry, engine.config, { service: 'ussd_request_v1', flags: { 'ip-allowlist': '10.9.9.9' } });
  opaqueId = integration.opaque_id;
});
afterAll(() => Promise.all(apps.map((a) => a.close())));

async function serve(trustProxy: Config['trustProxy']): Promise<string> {
  const app = await buildApp({ engine: testEngine(database().db, {}, defaultRegistry()), config: { bodyLimit: 65536, trustProxy } });
  apps.push(app);
  return app.listen({ host: '127.0.0.1', port: 0 });
}

/** An Africa's Talking dial, arriving from 127.0.0.1 (the test) with the given X-Forwarded-For. */
const dial = (base: string, forwardedFor: string) =>
  fetch(`${base}/v1/ussd/africastalking/${opaqueId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': forwardedFor },
    body: new URLSearchParams({ sessionId: `ATUid_${Math.random().toString(16).slice(2)}`, serviceCode: '*384*1234#', phoneNumber: '+254700000001', text: '' }).toString(),
  });

describe('SWITCHBOARD_TRUST_PROXY', () => {
  it('refuses `true` at start, saying what to use', async () => {
    expect(() => loadConfig({ SWITCHBOARD_TRUST_PROXY: 'true' })).toThrow(ConfigError);
    const child = spawnNode(['bin/switchboard.js', 'start'], { SWITCHBOARD_TRUST_PROXY: 'true', DATABASE_URL: database().url });
    expect(await child.exited).toBe(2);
    expect(child.output()).toMatch(/SWITCHBOARD_TRUST_PROXY: `true` would let any client choose its address.*number of proxies.*e\.g\. 1.*10\.0\.0\.0\/8,127\.0\.0\.1/);
  });

  it('takes a hop count or addresses and CIDR ranges (IPv4 and IPv6), and names a bad entry', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ SWITCHBOARD_TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ SWITCHBOARD_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,fd00::/8' }).trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
    expect(() => loadConfig({ SWITCHBOARD_TRUST_PROXY: '10.0.0.0/33,proxy.internal' })).toThrow(/not a hop count, address or CIDR range: 10\.0\.0\.0\/33, proxy\.internal/);
  });

  it.each([
    ['one hop', 1],
    ['the proxy by address', ['127.0.0.1']],
    ['the proxy by CIDR range', ['127.0.0.0/8']],
  ] as const)('trusting %s, a client cannot claim an allowlisted address', async (_what, trust) => {
    const base = await serve(typeof trust === 'number' ? trust : [...trust]);
    // The reproduction: the client wrote 10.9.9.9; the proxy appended the address it saw.
    const spoofed = await dial(base, '10.9.9.9, 203.0.113.7');
    expect(spoofed.status).toBe(401);
    expect(await spoofed.json()).toMatchObject({ error: { code: 'SB_ERR_UNAUTHORIZED', message: expect.stringContaining('IP allowlist') } });
    // The gateway itself, as the proxy saw it, is let in.
    const genuine = await dial(base, '203.0.113.7, 10.9.9.9');
    expect(genuine.status).toBe(200);
  });

  it('trusting other proxies only, the peer address counts and X-Forwarded-For is ignored', async () => {
    const base = await serve(['10.0.0.0/8']);
    expect((await dial(base, '10.9.9.9')).status).toBe(401);
  });
});
