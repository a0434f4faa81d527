/**
 * Issue 13 item 9: a client cannot hold connections. A body trickled at 1 byte/s is cut
 * off at SWITCHBOARD_BODY_TIMEOUT_MS with a 408 and a closed connection; past
 * SWITCHBOARD_MAX_CONNECTIONS open connections, new ones are closed at once.
 */
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { testEngine } from '../helpers/engine.ts';

const database = useTestDatabase();
let app: FastifyInstance | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await app?.close();
});

async function serve(env: Record<string, string>): Promise<number> {
  app = await buildApp({ engine: testEngine(database().db, env), config: { bodyLimit: 4096 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as net.AddressInfo).port;
}

/** A raw connection: what the server sent, and a promise of the moment it closed the connection. */
function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  sockets.push(socket);
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const connected = new Promise<void>((resolve) => socket.on('connect', () => resolve()));
  return { socket, received: () => received, closed, connected };
}

describe('slow and many clients', () => {
  it('cuts off a body trickled at 1 byte/s with 408 and closes the connection', { timeout: 20_000 }, async () => {
    const port = await serve({ SWITCHBOARD_BODY_TIMEOUT_MS: '2000' });
    const client = connect(port);
    client.socket.write('POST /v1/service_integrations/svi_slow HTTP/1.1\r\nHost: sb\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n');
    const trickle = setInterval(() => client.socket.writable && client.socket.write('a'), 1000);
    await client.closed;
    clearInterval(trickle);
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(client.received()).toMatch(/connection: close/i);
    expect(client.received()).toContain('"code":"SB_ERR_REQUEST_TIMEOUT"');
  });

  it('answers a body that arrives in time as usual', async () => {
    const port = await serve({ SWITCHBOARD_BODY_TIMEOUT_MS: '2000' });
    const client = connect(port);
    client.socket.write('POST /v1/service_integrations/svi_quick HTTP/1.1\r\nHost: sb\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
    await client.closed;
    expect(client.received()).toMatch(/^HTTP\/1\.1 404 /);
  });

  it('closes connections past SWITCHBOARD_MAX_CONNECTIONS at once, and takes new ones when others close', async () => {
    const port = await serve({ SWITCHBOARD_MAX_CONNECTIONS: '3' });
    const held = [connect(port), connect(port), connect(port)];
    await Promise.all(held.map((c) => c.connected));
    // Headers started, never finished: each holds its connection.
    for (const c of held) c.socket.write('GET /healthz HTTP/1.1\r\nHost: sb\r\n');
    await new Promise((r) => setTimeout(r, 200)); // let the server count them
    const refused = connect(port);
    refused.socket.write('GET /healthz HTTP/1.1\r\nHost: sb\r\nConnection: close\r\n\r\n');
    await refused.closed;
    expect(refused.received()).toBe('');

    held[0]!.socket.destroy();
    await held[0]!.closed;
    await new Promise((r) => setTimeout(r, 200));
    const next = connect(port);
    next.socket.write('GET /healthz HTTP/1.1\r\nHost: sb\r\nConnection: close\r\n\r\n');
    await next.closed;
    expect(next.received()).toMatch(/^HTTP\/1\.1 200 /);
  });
});
