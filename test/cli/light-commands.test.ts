import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../helpers/database.ts';
import { spawnNode, type Child } from '../helpers/processes.ts';

const database = useTestDatabase();
const children: Child[] = [];
const record = path.join(os.tmpdir(), `sb-loads-${process.pid}-${Date.now()}`);

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await fs.rm(record, { recursive: true, force: true });
});

/** The real binary, and every one of our source files it loaded. */
async function loadedBy(name: string, args: string[]): Promise<string[]> {
  await fs.mkdir(record, { recursive: true });
  const file = path.join(record, name);
  const child = spawnNode(['--import', './test/fixtures/record-loads.mjs', 'bin/switchboard.js', ...args], { RECORD_LOADS: file, DATABASE_URL: database().url, LOG_LEVEL: 'warn' });
  children.push(child);
  expect(await child.exited, child.output()).toBe(0);
  return (await fs.readFile(file, 'utf8')).split('\n').filter((url) => url.includes('/src/')).map((url) => url.slice(url.indexOf('/src/') + 1).split('?')[0]!);
}

const HEAVY = [/^src\/http\/app\.ts$/, /^src\/jobs\/worker\.ts$/, /^src\/simulators\//, /^src\/demo\//];

describe('commands load only what they use', () => {
  it.each([
    ['help', ['--help']],
    ['status', ['status']],
  ])('%s loads neither the server, the worker nor the simulators', { timeout: 60_000 }, async (name, args) => {
    const loaded = await loadedBy(name, args);
    expect(loaded).toContain('src/cli/main.ts');
    for (const heavy of HEAVY) expect(loaded.filter((f) => heavy.test(f))).toEqual([]);
  });

  it('worker --once does load the worker (the recording sees what is loaded)', { timeout: 60_000 }, async () => {
    const loaded = await loadedBy('once', ['worker', '--once']);
    expect(loaded).toContain('src/jobs/worker.ts');
  });
});
