import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { isProcessAlive } from '../../src/db/file-lock.ts';
import { postmasterPid, removeDataDir, tempDataDir } from '../helpers/data-dir.ts';
import { spawnNode, type Child } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait.ts';

const dataDir = tempDataDir('embedded');
const children: Child[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await removeDataDir(dataDir);
});

describe('embedded Postgres shared by processes', () => {
  it('two processes starting at once share one server; the last to leave stops it', { timeout: 90_000 }, async () => {
    const start = () => spawnNode(['--import', 'tsx', 'test/fixtures/embedded-client.ts', dataDir], { DATABASE_URL: undefined });
    const [a, b] = [start(), start()];
    children.push(a, b);
    const ready = (c: Child) =>
      waitFor(
        () => {
          if (c.process.exitCode !== null) throw new Error(`client exited early: ${c.output()}`);
          return c.output().match(/^\{.*\}$/m)?.[0];
        },
        { timeoutMs: 60_000, what: 'client ready' },
      );
    const [infoA, infoB] = (await Promise.all([ready(a), ready(b)])).map((line) => JSON.parse(line) as { port: number });
    expect(infoA!.port).toBe(infoB!.port);
    const pid = await postmasterPid(dataDir);
    expect(pid && isProcessAlive(pid)).toBe(true);

    a.process.stdin!.write('release\n');
    expect(await a.exited).toBe(0);
    // b still uses it: the server keeps running and answers.
    expect(isProcessAlive(pid!)).toBe(true);
    const cluster = JSON.parse(await fs.readFile(path.join(dataDir, 'cluster.json'), 'utf8')) as { password: string };
    const client = new pg.Client({ host: '127.0.0.1', port: infoB!.port, user: 'postgres', password: cluster.password, database: 'switchboard' });
    await client.connect();
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await client.end();

    b.process.stdin!.write('release\n');
    expect(await b.exited).toBe(0);
    await waitFor(() => !isProcessAlive(pid!), { timeoutMs: 10_000, what: 'postmaster to exit' });
    expect(await postmasterPid(dataDir)).toBeNull();
  });

  it('refuses connections without the generated password', async () => {
    const c = spawnNode(['--import', 'tsx', 'test/fixtures/embedded-client.ts', dataDir], { DATABASE_URL: undefined });
    children.push(c);
    const line = await waitFor(() => c.output().match(/^\{.*\}$/m)?.[0], { timeoutMs: 60_000, what: 'client ready' });
    const { port } = JSON.parse(line) as { port: number };
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: 'guess', database: 'switchboard' });
    await expect(client.connect()).rejects.toThrow(/password authentication failed/);
    c.process.stdin!.write('release\n');
    expect(await c.exited).toBe(0);
  });
});
