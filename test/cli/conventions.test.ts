import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { startExampleSource, type ExampleSource } from '../fixtures/example-source.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { queuedJobs } from '../helpers/jobs.ts';
import { ROOT, spawnExampleCli, spawnNode, type Child } from '../helpers/processes.ts';

const database = useTestDatabase();
const cli = (...args: string[]) => runCli(database().url, args);
const children: Child[] = [];
let source: ExampleSource;

beforeAll(async () => {
  source = await startExampleSource();
  source.messages = Array.from({ length: 3 }, (_, i) => ({ id: `o${i}`, body: `b${i}`, version: 1 }));
});
afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await source.close();
});

const exampleCli = (args: string[], env: Record<string, string | undefined> = {}) => {
  const child = spawnExampleCli(args, { DATABASE_URL: database().url, LOG_LEVEL: 'warn', ...env });
  children.push(child);
  return child;
};

describe('CLI conventions', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const run = await cli('--version');
    expect(run).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('services lists each service and its fields; integrations create --help shows them too', async () => {
    const registry = defaultRegistry();
    const text = await runCli(database().url, ['services'], { registry });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^signalwire_message_v1 — SignalWire Messages\n {2}--space +space name/m);
    expect(text.stdout).toMatch(/^front_signalwire_message_channel_app_v1 — .*\(depends on signalwire_message_v1; issues an API key\)\n {2}--phone .*\(required\)/m);
    expect(text.stdout).toMatch(/^ {2}--flow +a flow document/m);
    const json = (await runCli(database().url, ['services', '--json'], { registry })).json();
    expect(json.find((s: { name: string }) => s.name === 'signalwire_message_v1').fields).toContainEqual({ flag: '--api-token', description: 'API token with the Messaging scope', required: true, secret: true });
    const help = await runCli(database().url, ['integrations', 'create', '--help'], { registry });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Services and their fields:');
    expect(help.stdout).toMatch(/^ {2}--signing-key +signing key/m);
  });

  it('--database-url works on any command, before or after it, over DATABASE_URL', async () => {
    const wrong = { env: { DATABASE_URL: 'postgres://nobody:nothing@127.0.0.1:1/none' } };
    const after = await runCli('postgres://nobody:nothing@127.0.0.1:1/none', ['integrations', 'list', '--json', '--database-url', database().url], wrong);
    expect(after.code, after.stderr).toBe(0);
    expect(after.json()).toEqual([]);
    const before = await runCli('postgres://nobody:nothing@127.0.0.1:1/none', ['--database-url', database().url, 'status', '--json'], wrong);
    expect(before.code, before.stderr).toBe(0);
    const create = await runCli('postgres://nobody:nothing@127.0.0.1:1/none', ['integrations', 'create', 'example_message_v1', '--source-url', source.url, '--database-url', database().url, '--json'], wrong);
    expect(create.code, create.stderr).toBe(0);
    expect(create.json()).toMatchObject({ service: 'example_message_v1', api_url: source.url });
    const unreachable = await cli('status', '--database-url', 'postgres://nobody:nothing@127.0.0.1:1/none');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach Postgres at postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/none/);
  });

  it('roll-key on a service that issues no API key says so and issues none', async () => {
    const messages = (await cli('integrations', 'list', '--json')).json()[0];
    await cli('integrations', 'create', 'example_delivery_v1', '--api-url', source.url, '--depends-on', String(messages.id));
    const run = await cli('integrations', 'roll-key', 'example_delivery_v1');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('example_delivery_v1 integrations use no API key (nothing would accept one): there is nothing to roll');
    const { rows } = await sql<{ hash: string | null }>`SELECT api_key_hash AS hash FROM service_integrations WHERE service_name = 'example_delivery_v1'`.execute(database().db);
    expect(rows).toEqual([{ hash: null }]);
  });

  it('settings print one per line, a flow document as a summary', async () => {
    const flowFile = path.join(os.tmpdir(), `sb-flow-${process.pid}.json`);
    const flow = { version: 1, start: 'hi', screens: { hi: { type: 'menu', title: 'Hi', choices: [{ label: 'Bye', next: 'bye' }] }, bye: { type: 'end', text: 'Bye' } } };
    await fs.writeFile(flowFile, JSON.stringify(flow));
    try {
      const registry = defaultRegistry();
      const created = await runCli(database().url, ['integrations', 'create', 'ussd_request_v1', '--flow', flowFile, '--region', 'GH'], { registry });
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toMatch(/^settings:\n(?: {2}\S+: +.*\n)*? {2}flow: +flow document, 2 screens, starting at "hi"/m);
      expect(created.stdout).toMatch(/^ {2}region: +GH$/m);
      expect(created.stdout).not.toContain('\\"screens\\"');
    } finally {
      await fs.rm(flowFile, { force: true });
    }
  });

  it('worker --once runs the jobs due and the passes pending rows need, then exits', { timeout: 60_000 }, async () => {
    await sql`DELETE FROM graphile_worker._private_jobs`.execute(database().db);
    expect((await cli('backfill', 'example_message_v1')).code).toBe(0);
    const worker = exampleCli(['worker', '--once']);
    expect(await worker.exited, worker.output()).toBe(0);
    expect(worker.output()).toContain('no job due is left');
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM example_delivery_v1 WHERE delivered_id IS NOT NULL`.execute(database().db);
    expect(rows[0]!.n).toBe(3);
    expect(await queuedJobs(database().db)).toEqual([]);
  });

  it('a bad SWITCHBOARD_POLL_CRON is a usage error naming the variable', { timeout: 60_000 }, async () => {
    const worker = exampleCli(['worker'], { SWITCHBOARD_POLL_CRON: 'every minute' });
    expect(await worker.exited).toBe(2);
    expect(worker.output()).toMatch(/^error: invalid configuration: SWITCHBOARD_POLL_CRON: "every minute" is not a crontab schedule/m);
    expect(worker.output()).not.toMatch(/\n\s+at /);
  });

  it('exits quietly when its reader goes away (… | head)', { timeout: 60_000 }, async () => {
    const command = `set -o pipefail; ${process.execPath} --import tsx test/fixtures/run-cli.ts sql "SELECT repeat('x', 100) FROM generate_series(1, 20000)" | head -c 10 >/dev/null`;
    const child = spawn('bash', ['-c', command], { cwd: ROOT, env: { ...process.env, DATABASE_URL: database().url, SWITCHBOARD_SQL_MAX_ROWS: '20000', LOG_LEVEL: 'warn' } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
