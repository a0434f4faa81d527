import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDataDir, tempDataDir } from '../helpers/data-dir.ts';
import { spawnNode, type Child } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait.ts';

const dataDir = tempDataDir('first-start');
const children: Child[] = [];
const exists = (p: string) => fs.access(p).then(() => true, () => false);

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await removeDataDir(dataDir);
});

const migrate = (options: { group?: boolean } = {}) => {
  const child = spawnNode(['bin/switchboard.js', 'migrate'], { DATABASE_URL: undefined, SWITCHBOARD_DATA_DIR: dataDir, LOG_LEVEL: 'info' }, options);
  children.push(child);
  return child;
};

describe('first start of the embedded cluster', () => {
  it('killed during initdb, the next start initialises again and works', { timeout: 180_000 }, async () => {
    const first = migrate({ group: true });
    // initdb has begun writing the cluster (PG_VERSION comes first): kill everything, as a crash would.
    await waitFor(
      async () => {
        if (first.process.exitCode !== null) throw new Error(`exited before initdb: ${first.output()}`);
        return (await exists(path.join(dataDir, 'pg.initdb', 'PG_VERSION'))) || (await exists(path.join(dataDir, 'pg', 'PG_VERSION')));
      },
      { timeoutMs: 60_000, intervalMs: 10, what: 'initdb to start writing' },
    );
    expect(await first.stop('SIGKILL')).toBe('SIGKILL');

    const second = migrate();
    const code = await second.exited;
    expect(code, second.output()).toBe(0);
    expect(second.output()).toMatch(/Applied /);
    expect(second.output()).toContain('removed an incomplete cluster left by an interrupted first start');
    expect(await exists(path.join(dataDir, 'pg', 'PG_VERSION'))).toBe(true);
    expect(await exists(path.join(dataDir, 'pg.initdb'))).toBe(false);

    const third = migrate();
    expect(await third.exited, third.output()).toBe(0);
    expect(third.output()).toContain('Already up to date.');
  });

  it('a cluster directory made by an older interrupted start is moved aside, not deleted, and a new one made', { timeout: 180_000 }, async () => {
    await removeDataDir(dataDir);
    await fs.mkdir(path.join(dataDir, 'pg'), { recursive: true });
    await fs.writeFile(path.join(dataDir, 'pg', 'PG_VERSION'), '17\n');
    const child = migrate();
    expect(await child.exited, child.output()).toBe(0);
    expect(child.output()).toContain('moved it aside');
    const aside = (await fs.readdir(dataDir)).filter((n) => n.startsWith('pg.incomplete-'));
    expect(aside).toHaveLength(1);
    expect(await fs.readFile(path.join(dataDir, aside[0]!, 'PG_VERSION'), 'utf8')).toBe('17\n');
  });
});
