import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { buildsDir, fingerprint } from '../../bin/build.js';
import { useTestDatabase } from '../helpers/database.ts';
import { spawnNode, type Child } from '../helpers/processes.ts';

const database = useTestDatabase();
const children: Child[] = [];
const record = path.join(os.tmpdir(), `sb-loads-${process.pid}-${Date.now()}`);

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await fs.rm(record, { recursive: true, force: true });
});

/** The build the binary runs (the global setup made it), and which sources each of its files holds. */
const build = path.join(buildsDir(), fingerprint());
const sourcesOf = async () => {
  const holds = JSON.parse(await fs.readFile(path.join(build, 'sources.json'), 'utf8')) as Record<string, string[]>;
  return new Map(Object.entries(holds).map(([file, inputs]) => [path.join(build, file), inputs]));
};

/** The real binary: every module it loaded, as the sources the build's files hold, plus the packages it loaded from node_modules. */
async function loadedBy(name: string, args: string[]): Promise<{ sources: string[]; packages: string[]; typescript: string[] }> {
  await fs.mkdir(record, { recursive: true });
  const file = path.join(record, name);
  const child = spawnNode(['--import', './test/fixtures/record-loads.mjs', 'bin/switchboard.js', ...args], { RECORD_LOADS: file, DATABASE_URL: database().url, LOG_LEVEL: 'warn' });
  children.push(child);
  expect(await child.exited, child.output()).toBe(0);
  const urls = (await fs.readFile(file, 'utf8')).split('\n').filter((url) => url.startsWith('file:')).map((url) => fileURLToPath(url.split('?')[0]!));
  const outputs = await sourcesOf();
  return {
    sources: urls.flatMap((f) => outputs.get(f) ?? []).filter((input) => input.startsWith('src/')),
    packages: [...new Set(urls.filter((f) => f.includes('/node_modules/')).map((f) => f.split('/node_modules/')[1]!.split('/')[0]!))],
    typescript: urls.filter((f) => f.endsWith('.ts')),
  };
}

const HEAVY = [/^src\/http\/app\.ts$/, /^src\/jobs\/worker\.ts$/, /^src\/simulators\//, /^src\/demo\//];

describe('commands load only what they use', () => {
  it.each([
    ['help', ['--help']],
    ['status', ['status']],
  ])('%s loads neither the server, the worker nor the simulators, and no TypeScript', { timeout: 60_000 }, async (name, args) => {
    const loaded = await loadedBy(name, args);
    expect(loaded.sources).toContain('src/cli/main.ts');
    for (const heavy of HEAVY) expect(loaded.sources.filter((f) => heavy.test(f))).toEqual([]);
    expect(loaded.typescript).toEqual([]);
  });

  it('--help loads no package from node_modules: what it needs is in the build', { timeout: 60_000 }, async () => {
    expect((await loadedBy('help-packages', ['--help'])).packages).toEqual([]);
  });

  it('worker --once does load the worker (the recording sees what is loaded)', { timeout: 60_000 }, async () => {
    const loaded = await loadedBy('once', ['worker', '--once']);
    expect(loaded.sources).toContain('src/jobs/worker.ts');
    expect(loaded.packages).toContain('graphile-worker');
  });
});
