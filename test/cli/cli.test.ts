import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findByApiKey } from '../../src/engine/integrations.ts';
import { startExampleSource, type ExampleSource } from '../fixtures/example-source.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { queuedJobs } from '../helpers/jobs.ts';

const database = useTestDatabase();
const cli = (...args: string[]) => runCli(database().url, args);
let source: ExampleSource;

beforeAll(async () => {
  source = await startExampleSource();
  source.messages = Array.from({ length: 7 }, (_, i) => ({ id: `c${i}`, body: `cli ${i}`, version: 1 }));
});
afterAll(() => source.close());

describe('switchboard integrations', () => {
  let messagesId: number;
  let deliveriesId: number;

  it('create --json prints the integration, its webhook URL and no secrets', async () => {
    const run = await cli('integrations', 'create', 'example_message_v1', '--source-url', source.url, '--webhook-secret', 'supersecretvalue123', '--json');
    expect(run.code).toBe(0);
    const created = run.json();
    expect(created).toMatchObject({
      id: expect.any(Number),
      opaque_id: expect.stringMatching(/^svi_[0-9a-z]+$/),
      service: 'example_message_v1',
      api_url: source.url,
      webhook_secret: '****e123',
    });
    expect(created.webhook_url).toBe(`https://sb.example.org/v1/service_integrations/${created.opaque_id}`);
    expect(run.stdout).not.toContain('supersecretvalue123');
    messagesId = created.id;
  });

  it('create finds the dependency itself when there is only one candidate', async () => {
    const run = await cli('integrations', 'create', 'example_delivery_v1', '--api-url', source.url, '--json');
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ service: 'example_delivery_v1', depends_on: messagesId, webhook_url: null });
    deliveriesId = run.json().id;
  });

  it('refuses unknown services and unknown flags with exit 2 and a hint', async () => {
    const unknown = await cli('integrations', 'create', 'nope_v1');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown service "nope_v1"; known services: example_message_v1, example_delivery_v1/);
    const flag = await cli('integrations', 'create', 'example_message_v1', '--colour', 'blue');
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/unknown option --colour .* accepts --source-url/);
  });

  it('list and info resolve ids, opaque ids and service names', async () => {
    const list = (await cli('integrations', 'list', '--json')).json();
    expect(list.map((i: { service: string }) => i.service)).toEqual(['example_message_v1', 'example_delivery_v1']);
    const byName = (await cli('integrations', 'info', 'example_delivery_v1', '--json')).json();
    const byOpaque = (await cli('integrations', 'info', byName.opaque_id, '--json')).json();
    const byId = (await cli('integrations', 'info', String(deliveriesId), '--json')).json();
    expect([byOpaque.id, byId.id]).toEqual([deliveriesId, deliveriesId]);
    const table = await cli('integrations', 'list');
    expect(table.stdout).toMatch(/^id\s+opaque_id\s+service/m);
    const missing = await cli('integrations', 'info', 'svi_nothere');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no integration matches "svi_nothere"');
  });

  it('roll-key prints a new key once and the old one stops working', async () => {
    const first = (await cli('integrations', 'roll-key', String(messagesId), '--json')).json();
    expect(first.api_key).toMatch(/^sk\/svi_[0-9a-z]+\/[0-9a-z]+$/);
    const second = (await cli('integrations', 'roll-key', String(messagesId), '--json')).json();
    expect(await findByApiKey(database().db, first.api_key)).toBeUndefined();
    expect((await findByApiKey(database().db, second.api_key))?.id).toBe(messagesId);
    const stored = await database().db.selectFrom('service_integrations').select('api_key_hash').where('id', '=', messagesId).executeTakeFirstOrThrow();
    expect(stored.api_key_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reset clears credentials and error state and takes new values', async () => {
    await sql`UPDATE service_integrations SET last_error_code = 'SB_ERR_PROVIDER_AUTH', last_backfilled_at = now() WHERE id = ${messagesId}`.execute(database().db);
    const run = await cli('integrations', 'reset', String(messagesId), '--source-url', source.url, '--json');
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ api_url: source.url, webhook_secret: null, last_error: null, last_backfilled_at: null });
  });
});

describe('switchboard backfill', () => {
  it('queues a pass for a worker without --wait', async () => {
    const run = await cli('backfill', 'example_message_v1', '--json');
    expect(run.json()).toMatchObject({ queued: true, service: 'example_message_v1' });
    expect(await queuedJobs(database().db)).toHaveLength(1);
    await sql`DELETE FROM graphile_worker._private_jobs`.execute(database().db);
  });

  it('--wait runs the pass and its dependents here and reports rows', async () => {
    const run = await cli('backfill', 'example_message_v1', '--wait', '--json');
    expect(run.code).toBe(0);
    expect(run.json().passes).toMatchObject([
      { service: 'example_message_v1', status: 'succeeded', rows_processed: 7 },
      { service: 'example_delivery_v1', status: 'succeeded', rows_processed: 7 },
    ]);
    expect(source.deliveries).toHaveLength(7);
  });

  it('--wait exits 1 when the pass fails', async () => {
    source.failWith = 500;
    try {
      const run = await cli('backfill', 'example_message_v1', '--wait', '--no-recursive');
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/example_message_v1 \d+: failed, 0 rows .*source answered 500/);
    } finally {
      source.failWith = null;
    }
  });
});

describe('switchboard status', () => {
  it('--json reports rows, pending rows, last backfill and the job queue', async () => {
    await sql`INSERT INTO example_delivery_v1 (integration_id, message_id, body, data, row_created_at)
      SELECT id, 'late', 'x', '{}', now() - interval '90 seconds' FROM service_integrations WHERE service_name = 'example_delivery_v1'`.execute(database().db);
    await sql`DELETE FROM graphile_worker._private_jobs`.execute(database().db);
    await cli('backfill', 'example_delivery_v1');
    const status = (await cli('status', '--json')).json();
    const [messages, deliveries] = status.integrations;
    expect(messages).toMatchObject({ service: 'example_message_v1', rows: 7, pending: null, error: { code: 'SB_ERR_PROVIDER_UNREACHABLE' } });
    expect(deliveries).toMatchObject({ service: 'example_delivery_v1', rows: 8, pending: 1, last_backfill: { status: 'succeeded' } });
    expect(deliveries.oldest_pending_seconds).toBeGreaterThanOrEqual(89);
    expect(status.jobs).toEqual({ queued: 1, running: 0, failed: 0 });
    const text = await cli('status');
    expect(text.stdout).toMatch(/example_delivery_v1\s+ready\s+8\s+1\s+-\s+1m 3\ds/);
  });
});

describe('switchboard sql', () => {
  it('prints rows as a table or JSON', async () => {
    const json = await cli('sql', 'SELECT message_id, version FROM example_message_v1 ORDER BY message_id LIMIT 2', '--json');
    expect(json.json()).toEqual({ fields: ['message_id', 'version'], rows: [{ message_id: 'c0', version: 1 }, { message_id: 'c1', version: 1 }], truncated: false });
    const table = await cli('sql', "SELECT 'a' AS letter");
    expect(table.stdout).toBe('letter\n------\na\n(1 row)\n');
  });

  it('caps the rows it returns', async () => {
    const run = await runCli(database().url, ['sql', 'SELECT generate_series(1, 50) AS n', '--json'], { env: { SWITCHBOARD_SQL_MAX_ROWS: '10' } });
    expect(run.json()).toMatchObject({ truncated: true });
    expect(run.json().rows).toHaveLength(10);
  });

  it.each([
    "DELETE FROM example_message_v1",
    "UPDATE service_integrations SET api_url = 'x'",
    "CREATE TABLE evil (id int)",
    "SELECT set_config('transaction_read_only', 'off', false)",
    "SELECT nextval('service_integrations_id_seq')",
  ])('refuses to write: %s', async (query) => {
    const run = await cli('sql', query);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/read-only|read only|read-write mode/);
  });

  it('refuses several statements at once', async () => {
    const run = await cli('sql', 'SELECT 1; DELETE FROM example_message_v1');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/cannot insert multiple commands/);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM example_message_v1`.execute(database().db);
    expect(rows[0]!.n).toBe(7);
  });
});

describe('switchboard integrations delete', () => {
  it('refuses without confirmation, then deletes the integration, its dependents and their rows', async () => {
    const refused = await cli('integrations', 'delete', 'example_message_v1');
    expect(refused.code).toBe(2);
    const run = await cli('integrations', 'delete', 'example_message_v1', '--yes', '--json');
    expect(run.code).toBe(0);
    expect(run.json().deleted).toMatchObject([
      { service: 'example_delivery_v1', rows_deleted: 8 },
      { service: 'example_message_v1', rows_deleted: 7 },
    ]);
    const { rows } = await sql<{ n: number }>`SELECT (SELECT count(*) FROM example_message_v1) + (SELECT count(*) FROM example_delivery_v1) + (SELECT count(*) FROM service_integrations) AS n`.execute(database().db);
    expect(Number(rows[0]!.n)).toBe(0);
  });
});

describe('usage', () => {
  it('lists the commands in --help and exits 2 on a wrong command', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    for (const command of ['start', 'worker', 'migrate', 'integrations', 'backfill', 'sql', 'status']) expect(help.stdout).toContain(command);
    const wrong = await cli('frobnicate');
    expect(wrong.code).toBe(2);
  });
});
