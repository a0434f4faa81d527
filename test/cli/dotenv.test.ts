import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../helpers/database.ts';
import { ROOT, spawnNode, type Child } from '../helpers/processes.ts';

const database = useTestDatabase();
const project = path.join(os.tmpdir(), `sb-dotenv-${process.pid}-${Date.now()}`);
const children: Child[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await fs.rm(project, { recursive: true, force: true });
});

async function sqlIn(cwd: string, env: Record<string, string | undefined>) {
  const child = spawnNode([path.join(ROOT, 'bin/switchboard.js'), 'sql', 'SELECT generate_series(1, 5) AS n', '--json'], { DATABASE_URL: undefined, SWITCHBOARD_SQL_MAX_ROWS: undefined, ...env }, { cwd });
  children.push(child);
  const code = await child.exited;
  return { code, output: child.output() };
}

describe('.env in the project root', () => {
  it('is read from anywhere in the project, and the environment wins over it', { timeout: 60_000 }, async () => {
    const deep = path.join(project, 'ops', 'scripts');
    await fs.mkdir(deep, { recursive: true });
    await fs.writeFile(path.join(project, 'package.json'), '{"name": "helpline"}\n');
    await fs.writeFile(path.join(project, '.env'), `# the helpline's settings\nDATABASE_URL="${database().url}"\nSWITCHBOARD_SQL_MAX_ROWS=2\n`);

    const fromFile = await sqlIn(deep, {});
    expect(fromFile.code, fromFile.output).toBe(0);
    expect(JSON.parse(fromFile.output)).toMatchObject({ rows: [{ n: 1 }, { n: 2 }], truncated: true });

    const overridden = await sqlIn(deep, { SWITCHBOARD_SQL_MAX_ROWS: '3' });
    expect(JSON.parse(overridden.output).rows).toHaveLength(3);
  });

  it('a bad value in .env is reported like one in the environment, naming the variable', { timeout: 60_000 }, async () => {
    await fs.writeFile(path.join(project, '.env'), 'SWITCHBOARD_SQL_MAX_ROWS=lots\n');
    const run = await sqlIn(project, {});
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/invalid configuration: SWITCHBOARD_SQL_MAX_ROWS: /);
  });
});
