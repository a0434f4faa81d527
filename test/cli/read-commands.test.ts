import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createPool, wrapPool } from '../../src/db/connect.ts';
import { dropDatabase, recreateDatabase } from '../../src/db/databases.ts';
import { createLogger } from '../../src/log.ts';
import { runCli } from '../helpers/cli.ts';
import { removeDataDir } from '../helpers/data-dir.ts';
import { ROOT, spawnNode, type Child } from '../helpers/processes.ts';

const children: Child[] = [];
const project = path.join(os.tmpdir(), `sb-project-${process.pid}-${Date.now()}`);
const BLANK_DB = `switchboard_blank_${process.pid}`;

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await removeDataDir(path.join(project, '.switchboard'));
  await fs.rm(project, { recursive: true, force: true });
  await dropDatabase(inject('pgServerUrl'), BLANK_DB);
});

/** The real binary, run from `cwd`, on the embedded server (no DATABASE_URL). */
async function switchboardIn(cwd: string, ...args: string[]) {
  const child = spawnNode([path.join(ROOT, 'bin/switchboard.js'), ...args], { DATABASE_URL: undefined, SWITCHBOARD_DATA_DIR: undefined, LOG_LEVEL: undefined }, { cwd });
  children.push(child);
  return { code: await child.exited, output: child.output() };
}

const exists = (p: string) => fs.access(p).then(() => true, () => false);

describe('read commands and the data directory', () => {
  it('never create a cluster: from a folder with none they say so, and make nothing there', { timeout: 120_000 }, async () => {
    const elsewhere = path.join(project, 'elsewhere');
    await fs.mkdir(elsewhere, { recursive: true });
    for (const args of [['status'], ['integrations', 'list'], ['integrations', 'info', '1'], ['sql', 'SELECT 1'], ['doctor']]) {
      const run = await switchboardIn(elsewhere, ...args);
      expect(run.code, `${args.join(' ')}: ${run.output}`).toBe(1);
      expect(run.output).toContain(`no Switchboard data directory at ${path.join(elsewhere, '.switchboard')}: start one with \`npx switchboard start\``);
      expect(run.output).toContain('SWITCHBOARD_DATA_DIR');
    }
    expect(await fs.readdir(elsewhere)).toEqual([]);
  });

  it('find the data directory from the project root (the nearest package.json), wherever in the project they run', { timeout: 180_000 }, async () => {
    const deep = path.join(project, 'app', 'src', 'deep');
    await fs.mkdir(deep, { recursive: true });
    await fs.writeFile(path.join(project, 'app', 'package.json'), '{"name": "helpline"}\n');
    const migrated = await switchboardIn(path.join(project, 'app'), 'migrate');
    expect(migrated.code, migrated.output).toBe(0);
    expect(await exists(path.join(project, 'app', '.switchboard', 'cluster.json'))).toBe(true);

    const status = await switchboardIn(deep, 'status');
    expect(status.code, status.output).toBe(0);
    expect(status.output).toContain('No integrations yet.');
    expect(await exists(path.join(deep, '.switchboard'))).toBe(false);
    await removeDataDir(path.join(project, 'app', '.switchboard'));
  });

  it('never migrate: against an unmigrated DATABASE_URL they say so and create no table', async () => {
    const url = await recreateDatabase(inject('pgServerUrl'), BLANK_DB);
    for (const args of [['status'], ['integrations', 'list'], ['integrations', 'info', '1'], ['sql', 'SELECT 1']]) {
      const run = await runCli(url, args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr).toMatch(/error: the database at postgres:\/\/.* is not migrated \(0 of \d+ migrations applied\): run `npx switchboard migrate`/);
      const password = decodeURIComponent(new URL(url).password);
      if (password) expect(run.stderr).not.toContain(password);
    }
    const doctor = await runCli(url, ['doctor', '--json']);
    expect(doctor.code).toBe(1);
    expect(doctor.json().findings).toEqual([
      expect.objectContaining({ check: 'database', status: 'ok' }),
      expect.objectContaining({ check: 'migrations', status: 'fail', detail: expect.stringMatching(/^0 of \d+ applied: run `npx switchboard migrate`/) }),
      expect.objectContaining({ check: 'metrics' }),
      // Not migrated, so not revoked either: doctor says so.
      expect.objectContaining({ check: 'advisory locks', status: 'warn' }),
      expect.objectContaining({ check: 'PUBLIC_URL' }),
    ]);

    const blank = wrapPool(url, createPool(url, 1, createLogger('silent')));
    try {
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`.execute(blank.db);
      expect(rows[0]!.n).toBe(0);
    } finally {
      await blank.close();
    }
  });
});
