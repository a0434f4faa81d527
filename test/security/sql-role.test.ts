/**
 * Issue 13 item 4: `switchboard sql` is not a superuser shell. Through the real CLI, each
 * statement of the review is refused with a clear message and has no effect.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { defaultRegistry } from '../../src/replicators/index.ts';
import { createIntegration } from '../../src/engine/integrations.ts';
import { runCli } from '../helpers/cli.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { testEngine } from '../helpers/engine.ts';

const database = useTestDatabase();
let held: pg.PoolClient;
const marker = path.join(os.tmpdir(), `switchboard-sql-${process.pid}.txt`);

beforeAll(async () => {
  const engine = testEngine(database().db, {}, defaultRegistry());
  await createIntegration(engine.db, engine.registry, engine.config, { service: 'ussd_request_v1', flags: {} });
  held = await database().pool.connect();
});
afterAll(() => held.release());

const sqlCli = (query: string) => runCli(database().url, ['sql', '--json', query], { registry: defaultRegistry() });

describe('switchboard sql', () => {
  it('runs as the read-only role switchboard_sql and still answers queries', async () => {
    const run = await sqlCli('SELECT current_user AS who, count(*)::int AS n FROM service_integrations');
    expect(run.code, run.stderr).toBe(0);
    expect(run.json().rows).toEqual([{ who: 'switchboard_sql', n: 1 }]);
  });

  it.each([
    ['COPY TO PROGRAM', `COPY (SELECT 'x') TO PROGRAM 'id > ${marker}'`, /permission denied to COPY to or from an external program/],
    ['pg_terminate_backend', 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND usename <> current_user', /permission denied to terminate process/],
    ['pg_read_file', "SELECT pg_read_file('/etc/passwd')", /permission denied for function pg_read_file/],
    ['LOCK TABLE', 'LOCK TABLE service_integrations IN ACCESS EXCLUSIVE MODE', /cannot execute LOCK TABLE in a read-only transaction|permission denied/],
    ['pg_reload_conf', 'SELECT pg_reload_conf()', /permission denied for function pg_reload_conf/],
    ['reading credentials', 'SELECT backfill_secret FROM service_integrations', /permission denied for table service_integrations/],
    ['reading the USSD URL and settings', 'SELECT opaque_id, settings FROM service_integrations', /permission denied for table service_integrations/],
  ])('refuses %s with a clear message', async (_what, query, reason) => {
    const run = await sqlCli(query);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/refused: /);
    expect(run.stderr).toMatch(reason);
    expect(run.stderr).toMatch(/switchboard sql is read-only: it runs as the role switchboard_sql/);
  });

  it('left no effect behind: no file written, the server connection alive', async () => {
    expect(fs.existsSync(marker)).toBe(false);
    expect((await held.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });

  it('leaves the role unable to log in between runs', async () => {
    const { rows } = await held.query(`SELECT rolcanlogin, rolpassword IS NULL AS no_password FROM pg_authid WHERE rolname = 'switchboard_sql'`);
    expect(rows).toEqual([{ rolcanlogin: false, no_password: true }]);
  });
});
