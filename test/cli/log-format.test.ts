import { afterAll, describe, expect, it } from 'vitest';
import { removeDataDir, tempDataDir } from '../helpers/data-dir.ts';
import { freePort, spawnNode, type Child } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait.ts';

const dataDir = tempDataDir('log-format');
const children: Child[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await removeDataDir(dataDir);
});

/** `start` until it serves, then SIGTERM; its whole stderr and stdout. */
async function startAndStop(env: Record<string, string | undefined>): Promise<string> {
  const port = await freePort();
  const child = spawnNode(['bin/switchboard.js', 'start'], { DATABASE_URL: undefined, SWITCHBOARD_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: undefined, ...env });
  children.push(child);
  await waitFor(
    async () => {
      if (child.process.exitCode !== null) throw new Error(`start exited: ${child.output()}`);
      return child.output().includes('dashboard:');
    },
    { timeoutMs: 90_000, intervalMs: 100, what: 'start to serve' },
  );
  expect(await child.stop('SIGTERM')).toBe(0);
  return child.output();
}

describe('start: what the first start shows', () => {
  it('LOG_FORMAT=pretty: human lines for initialising, migrating and listening, then the dashboard URL and how to sign in', { timeout: 150_000 }, async () => {
    const output = await startAndStop({ LOG_FORMAT: 'pretty' });
    expect(output).toMatch(/^\d\d:\d\d:\d\d INFO  initialising the embedded Postgres cluster \(first start only/m);
    expect(output).toMatch(/^\d\d:\d\d:\d\d INFO  migrating the database$/m);
    expect(output).toMatch(/^\d\d:\d\d:\d\d INFO  database migrated {2}applied=\d+$/m);
    expect(output).toMatch(/^\d\d:\d\d:\d\d INFO  listening {2}address=http:\/\/127\.0\.0\.1:\d+/m);
    expect(output).toMatch(/^dashboard: http:\/\/127\.0\.0\.1:\d+\/ \(get a sign-in link with `npx switchboard admin-token`\)$/m);
    expect(output).not.toMatch(/^\{/m);
  });

  it('without a terminal and LOG_FORMAT unset: JSON lines', { timeout: 150_000 }, async () => {
    const output = await startAndStop({ LOG_FORMAT: undefined, SWITCHBOARD_ADMIN_TOKEN: 'a-long-enough-admin-token' });
    const entries = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string });
    expect(entries.map((e) => e.msg)).toEqual(expect.arrayContaining(['migrating the database', 'database up to date', 'listening']));
    expect(output).toContain('(sign in with SWITCHBOARD_ADMIN_TOKEN)');
    expect(output).not.toContain('a-long-enough-admin-token');
  });

  it('on a terminal and LOG_FORMAT unset: human lines', { timeout: 60_000 }, async () => {
    // script(1) gives the command a pseudo-terminal, as an operator's shell would.
    const child = spawnNode(['-e', `require('node:child_process').execFileSync('script', ['-qec', ${JSON.stringify(`${process.execPath} bin/switchboard.js migrate`)}, '/dev/null'], { stdio: 'inherit' })`], {
      DATABASE_URL: undefined,
      SWITCHBOARD_DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
      LOG_FORMAT: undefined,
    });
    children.push(child);
    expect(await child.exited, child.output()).toBe(0);
    expect(child.output()).toMatch(/^\d\d:\d\d:\d\d INFO  starting embedded Postgres  port=\d+\r?$/m);
    expect(child.output()).not.toMatch(/"msg"/);
  });

  it('a LOG_FORMAT that is neither pretty nor json is a usage error naming the variable', async () => {
    const child = spawnNode(['bin/switchboard.js', 'status'], { LOG_FORMAT: 'xml' });
    children.push(child);
    expect(await child.exited).toBe(2);
    expect(child.output()).toMatch(/invalid configuration: LOG_FORMAT: .*"pretty"\|"json"/);
  });
});
