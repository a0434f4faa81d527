import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createPool, wrapPool, type DatabaseHandle } from '../../src/db/connect.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { MIGRATIONS_DIR } from '../../src/root.ts';
import { createLogger } from '../../src/log.ts';
import { databaseUrl } from '../../src/db/databases.ts';

const name = `switchboard_test_empty_${randomBytes(4).toString('hex')}`;
const handles: DatabaseHandle[] = [];

async function admin(query: string) {
  const client = new pg.Client({ connectionString: inject('pgServerUrl') });
  await client.connect();
  try {
    await client.query(query);
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  await Promise.all(handles.map((h) => h.close()));
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
});

describe('migrateToLatest', () => {
  it('is safe when several migrators start at once on an empty database', async () => {
    await admin(`CREATE DATABASE ${name}`);
    const url = databaseUrl(inject('pgServerUrl'), name);
    const log = createLogger('silent');
    for (let i = 0; i < 3; i++) handles.push(wrapPool(url, createPool(url, 3, log)));
    const results = await Promise.all(handles.map((h) => migrateToLatest(h.db, h.pool, log)));
    // Exactly one of them applied each migration; the others found nothing to do.
    const files = (await fs.readdir(MIGRATIONS_DIR)).map((f) => f.replace(/\.ts$/, '')).sort();
    expect(results.flatMap((r) => r.applied).sort()).toEqual(files);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM graphile_worker.migrations`.execute(handles[0]!.db);
    expect(rows[0]!.n).toBeGreaterThan(0);
    expect((await migrateToLatest(handles[0]!.db, handles[0]!.pool, log)).applied).toEqual([]);
  });
});
