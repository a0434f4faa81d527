/**
 * Issue 13 item 3: the read-only analyst role cannot stop ingestion. It holds every lock
 * it can take while signed webhooks come in (they answer), cannot take advisory locks,
 * has a connection limit, and cannot lift its timeouts past a running `switchboard worker`.
 */
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceIntegration } from '../../src/db/schema.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { buildApp } from '../../src/http/app.ts';
import { signExample } from '../fixtures/example-replicators.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { createExamplePair, testEngine } from '../helpers/engine.ts';
import { spawnExampleCli, type Child } from '../helpers/processes.ts';

const database = useTestDatabase();
let engine: Engine;
let app: FastifyInstance;
let base: string;
let messages: ServiceIntegration;
const clients: pg.Client[] = [];

beforeAll(async () => {
  engine = testEngine(database().db);
  ({ messages } = await createExamplePair(engine));
  app = await buildApp({ engine, config: { bodyLimit: 4096 } });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await app.close();
});

async function analyst(): Promise<pg.Client> {
  const run = await runCli(database().url, ['db', 'readonly-url', '--json']);
  expect(run.code, run.stderr).toBe(0);
  const client = new pg.Client({ connectionString: run.json<{ url: string }>().url });
  client.on('error', () => undefined);
  await client.connect();
  clients.push(client);
  return client;
}

/** Runs `statement` in a savepoint: the locks it took stay held if it succeeds; an error is returned, not thrown. */
async function attempt(client: pg.Client, statement: string): Promise<Error | null> {
  await client.query('SAVEPOINT probe');
  try {
    await client.query(statement);
    await client.query('RELEASE SAVEPOINT probe');
    return null;
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT probe');
    return error as Error;
  }
}

const sendSms = (id: string) => {
  const body = JSON.stringify({ messages: [{ id, body: 'hello', version: 1 }] });
  return fetch(`${base}/v1/service_integrations/${messages.opaque_id}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'x-example-signature': signExample('whsec-test', body) },
  });
};

describe('the switchboard_analyst role', () => {
  it('cannot take an advisory lock; holding every lock it can, webhooks still answer', async () => {
    const client = await analyst();
    // The reproduction: an idle analyst session in a read-write transaction without a timeout.
    await client.query('BEGIN READ WRITE');
    await client.query('SET LOCAL statement_timeout = 0');

    const { rows: functions } = await client.query<{ name: string; args: string }>(
      `SELECT proname AS name, pg_get_function_identity_arguments(oid) AS args FROM pg_proc WHERE proname ~ '^pg_(try_)?advisory' ORDER BY 1, 2`,
    );
    expect(functions.length).toBeGreaterThanOrEqual(20);
    for (const { name, args } of functions) {
      // The backfill barrier's key for this integration, in either form.
      const call = args === '' ? `${name}()` : args === 'bigint' ? `${name}(${(0x5b03 << 16) + messages.id})` : `${name}(${0x5b03}, ${messages.id})`;
      const error = await attempt(client, `SELECT ${call}`);
      expect(error?.message, call).toMatch(/permission denied for function/);
    }

    const { rows: tables } = await client.query<{ name: string }>(`SELECT format('%I', relname) AS name FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')`);
    const modes = ['ACCESS SHARE', 'ROW SHARE', 'ROW EXCLUSIVE', 'SHARE UPDATE EXCLUSIVE', 'SHARE', 'SHARE ROW EXCLUSIVE', 'EXCLUSIVE', 'ACCESS EXCLUSIVE'];
    for (const { name } of tables) {
      for (const mode of modes) await attempt(client, `LOCK TABLE ${name} IN ${mode} MODE NOWAIT`);
      for (const strength of ['UPDATE', 'NO KEY UPDATE', 'SHARE', 'KEY SHARE']) await attempt(client, `SELECT 1 FROM ${name} FOR ${strength} NOWAIT`);
    }
    const { rows: held } = await client.query<{ mode: string }>(`SELECT DISTINCT mode FROM pg_locks WHERE pid = pg_backend_pid() AND locktype IN ('relation', 'advisory', 'tuple')`);
    // Only the lock every reader takes, which blocks nothing but DDL.
    expect(held.map((h) => h.mode)).toEqual(['AccessShareLock']);

    // 28 signed webhooks at once (more than the pool) while the analyst holds all of it.
    const responses = await Promise.all(Array.from({ length: 28 }, (_, i) => sendSms(`lock-${i}`)));
    expect(responses.map((r) => r.status)).toEqual(Array(28).fill(202));
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const { rows: stored } = await database().pool.query(`SELECT count(*)::int AS n FROM example_message_v1 WHERE message_id LIKE 'lock-%'`);
    expect(stored).toEqual([{ n: 28 }]);
    await client.query('ROLLBACK');
  });

  it('reads in read-only transactions by default, with a connection limit', async () => {
    const client = await analyst();
    expect((await client.query('SHOW default_transaction_read_only')).rows).toEqual([{ default_transaction_read_only: 'on' }]);
    const { rows } = await client.query(`SELECT rolconnlimit AS n FROM pg_roles WHERE rolname = current_user`);
    expect(rows).toEqual([{ n: 5 }]);
    // The USSD callback URL's secret and the integrations' settings are not for readers (item 6).
    await expect(client.query('SELECT opaque_id FROM service_integrations')).rejects.toThrow(/permission denied/);
    await expect(client.query('SELECT settings FROM service_integrations')).rejects.toThrow(/permission denied/);
    expect((await client.query('SELECT service_name FROM service_integrations ORDER BY id')).rows).toHaveLength(2);
    const doctor = await runCli(database().url, ['doctor', '--json']);
    expect(doctor.json().findings).toContainEqual(expect.objectContaining({ check: 'advisory locks', status: 'ok' }));
  });

  it('where advisory locks stay open to every role, doctor and db readonly-url say so', async () => {
    // As after migrations run by a role that is not a superuser: Postgres keeps PUBLIC's EXECUTE.
    await database().pool.query('GRANT EXECUTE ON FUNCTION pg_advisory_lock(bigint) TO PUBLIC');
    try {
      const doctor = await runCli(database().url, ['doctor', '--json']);
      expect(doctor.json().findings).toContainEqual(
        expect.objectContaining({ check: 'advisory locks', status: 'warn', detail: expect.stringMatching(/read-only one included, can take advisory locks.*hold up webhooks/) }),
      );
      const url = await runCli(database().url, ['db', 'readonly-url', '--json']);
      expect(url.code).toBe(0);
      expect(url.json().warnings).toEqual([expect.stringMatching(/can take advisory locks/)]);
      expect(url.stderr).toMatch(/^warning: every database role/);
    } finally {
      await database().pool.query('REVOKE EXECUTE ON FUNCTION pg_advisory_lock(bigint) FROM PUBLIC');
    }
  });

  it('cannot lift its timeouts: a running worker ends the statement and the idle transaction', { timeout: 60_000 }, async () => {
    const worker: Child = spawnExampleCli(['worker'], { DATABASE_URL: database().url, SWITCHBOARD_SQL_TIMEOUT_MS: '1000', LOG_LEVEL: 'warn' });
    try {
      const sleeper = await analyst();
      const idler = await analyst();
      for (const client of [sleeper, idler]) {
        await client.query('BEGIN READ WRITE');
        await client.query('SET LOCAL statement_timeout = 0');
        await client.query('SET LOCAL idle_in_transaction_session_timeout = 0');
      }
      const idlerEnded = new Promise<void>((resolve) => idler.once('end', () => resolve()));
      await expect(sleeper.query('SELECT pg_sleep(45)')).rejects.toThrow(/terminating connection due to administrator command/);
      // The idle one is ended too: the server closes its connection.
      await idlerEnded;
      expect(worker.process.exitCode).toBeNull();
    } finally {
      await worker.stop();
    }
  });
});
