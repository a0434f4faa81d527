import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/db/file-lock.ts';
import { spawnNode, type Child } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait.ts';

const dataDir = path.join(os.tmpdir(), `sb-start-${process.pid}-${Date.now()}`);
const children: Child[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  const cluster = JSON.parse(await fs.readFile(path.join(dataDir, 'cluster.json'), 'utf8').catch(() => '{}')) as { clusterDir?: string };
  await fs.rm(dataDir, { recursive: true, force: true });
  if (cluster.clusterDir) await fs.rm(cluster.clusterDir, { recursive: true, force: true });
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

describe('npx switchboard (the real binary)', () => {
  it('--help lists the commands', async () => {
    const child = spawnNode(['bin/switchboard.js', '--help'], {});
    expect(await child.exited).toBe(0);
    expect(child.output()).toMatch(/start[\s\S]*worker[\s\S]*migrate[\s\S]*integrations[\s\S]*backfill[\s\S]*sql[\s\S]*status/);
  });

  it('start serves /healthz on embedded Postgres and stops cleanly on SIGTERM', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const child = spawnNode(['bin/switchboard.js', 'start'], { DATABASE_URL: undefined, SWITCHBOARD_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn' });
    children.push(child);
    await waitFor(
      async () => {
        if (child.process.exitCode !== null) throw new Error(`start exited: ${child.output()}`);
        return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status === 200;
      },
      { timeoutMs: 90_000, intervalMs: 200, what: 'healthz 200' },
    );
    const { clusterDir } = JSON.parse(await fs.readFile(path.join(dataDir, 'cluster.json'), 'utf8')) as { clusterDir: string };
    const postmaster = Number((await fs.readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(isProcessAlive(postmaster)).toBe(true);

    expect(await child.stop('SIGTERM')).toBe(0);
    await waitFor(() => !isProcessAlive(postmaster), { timeoutMs: 10_000, what: 'embedded Postgres to stop' });
    await expect(fs.access(path.join(clusterDir, 'postmaster.pid'))).rejects.toThrow();
  });
});
