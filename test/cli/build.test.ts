/**
 * The CLI runs its build in dist/cli/, never stale: a copy of the project whose sources
 * change rebuilds before it runs, or, without esbuild, refuses and says how to fix it. And
 * the build finds and runs the migrations on a fresh database.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { dropDatabase, recreateDatabase } from '../../src/db/databases.ts';
import { ROOT, spawnNode } from '../helpers/processes.ts';

const copy = path.join(os.tmpdir(), `sb-build-${process.pid}-${Date.now()}`);
const fresh = `sb_build_${process.pid}`;

afterAll(async () => {
  await fs.rm(copy, { recursive: true, force: true });
  await dropDatabase(inject('pgServerUrl'), fresh);
});

async function run(args: string[], env: Record<string, string> = {}) {
  const child = spawnNode([path.join(copy, 'bin/switchboard.js'), ...args], { LOG_LEVEL: 'warn', ...env }, { cwd: copy });
  const code = await child.exited;
  return { code, output: child.output() };
}

const MAIN = path.join(copy, 'src/cli/main.ts');
const describeAs = async (text: string) => fs.writeFile(MAIN, (await fs.readFile(MAIN, 'utf8')).replace(/\.description\('[^']*'\)/, `.description('${text}')`));

describe('the CLI build', () => {
  it('is rebuilt when a source changes, and refused with the fix when it cannot be', { timeout: 120_000 }, async () => {
    await fs.mkdir(copy, { recursive: true });
    for (const entry of ['bin', 'src', 'migrations', 'package.json', 'tsconfig.json']) await fs.cp(path.join(ROOT, entry), path.join(copy, entry), { recursive: true });
    await fs.symlink(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));

    const first = await run(['--version']);
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/building dist\/cli\/[0-9a-f]{16}/);
    const again = await run(['--version']);
    expect(again.output).not.toContain('building');

    await describeAs('Edited after the build.');
    const edited = await run(['--help']);
    expect(edited.code, edited.output).toBe(0);
    expect(edited.output).toContain('building dist/cli/');
    expect(edited.output).toContain('Edited after the build.');

    // The same project without esbuild: every package but that one.
    await fs.rm(path.join(copy, 'node_modules'));
    await fs.mkdir(path.join(copy, 'node_modules'));
    for (const name of await fs.readdir(path.join(ROOT, 'node_modules'))) {
      if (name !== 'esbuild') await fs.symlink(path.join(ROOT, 'node_modules', name), path.join(copy, 'node_modules', name));
    }
    await describeAs('Edited again, with no esbuild to build it.');
    const refused = await run(['--help']);
    expect(refused.code).toBe(1);
    expect(refused.output).toContain('no CLI build matches the sources');
    expect(refused.output).toContain('run `npm run build` (or `npm install`)');
    expect(refused.output).not.toContain('Edited again');
  });

  it('finds and runs every migration on a fresh database', { timeout: 120_000 }, async () => {
    const url = await recreateDatabase(inject('pgServerUrl'), fresh);
    const child = spawnNode(['bin/switchboard.js', 'migrate', '--json'], { DATABASE_URL: url, LOG_LEVEL: 'warn' });
    expect(await child.exited, child.output()).toBe(0);
    const { applied } = JSON.parse(child.output().slice(child.output().indexOf('{'))) as { applied: string[] };
    const sources = (await fs.readdir(path.join(ROOT, 'migrations'))).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3));
    expect(applied.sort()).toEqual(sources.sort());
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      const { rows } = await pool.query<{ name: string }>('SELECT name FROM kysely_migration ORDER BY name');
      expect(rows.map((r) => r.name)).toEqual(sources.sort());
      const { rows: queue } = await pool.query<{ present: boolean }>("SELECT to_regclass('graphile_worker._private_jobs') IS NOT NULL AS present");
      expect(queue[0]!.present).toBe(true);
    } finally {
      await pool.end();
    }
  });
});
