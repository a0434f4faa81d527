/**
 * Postgres restarting under a running server: webhooks during the outage get 503 with
 * Retry-After (the sender retries; nothing is acknowledged unstored), and the server
 * recovers by itself once Postgres is back. On its own embedded cluster, not the shared one.
 */
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createPool, wrapPool } from '../../src/db/connect.ts';
import { acquireEmbeddedPostgres, EMBEDDED_DEFAULT_DATABASE } from '../../src/db/embedded-postgres.ts';
import { isProcessAlive } from '../../src/db/file-lock.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { buildApp } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { EXAMPLE_TABLES_SQL, signExample } from '../fixtures/example-replicators.ts';
import { postmasterPid, removeDataDir, tempDataDir } from '../helpers/data-dir.ts';
import { createExamplePair, testEngine } from '../helpers/engine.ts';
import { waitFor } from '../helpers/wait.ts';

const dataDir = tempDataDir('restart');
afterAll(() => removeDataDir(dataDir));

describe('Postgres restarting', () => {
  it('answers 503 while it is down and recovers without help', { timeout: 120_000 }, async () => {
    const log = createLogger('silent');
    const first = await acquireEmbeddedPostgres({ dataDir, log });
    const url = first.urlFor(EMBEDDED_DEFAULT_DATABASE);
    const database = wrapPool(url, createPool(url, 4, log));
    await migrateToLatest(database.db, database.pool, log);
    await sql.raw(EXAMPLE_TABLES_SQL).execute(database.db);
    const engine = testEngine(database.db);
    const { messages } = await createExamplePair(engine);
    const app = await buildApp({ engine, config: { bodyLimit: 65536 } });
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const post = (id: string) => {
      const body = JSON.stringify({ messages: [{ id, body: 'x', version: 1 }] });
      return fetch(`${base}/v1/service_integrations/${messages.opaque_id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-example-signature': signExample('whsec-test', body) },
        body,
      });
    };
    try {
      expect((await post('before')).status).toBe(202);

      const pid = (await postmasterPid(dataDir))!;
      process.kill(pid, 'SIGINT');
      await waitFor(() => !isProcessAlive(pid), { timeoutMs: 20_000, what: 'postgres to stop' });
      const during = await post('during');
      expect(during.status).toBe(503);
      expect(during.headers.get('retry-after')).toBe('5');
      expect((await fetch(`${base}/healthz`)).status).toBe(503);

      const second = await acquireEmbeddedPostgres({ dataDir, log });
      try {
        await waitFor(async () => (await post('after')).status === 202, { timeoutMs: 30_000, intervalMs: 200, what: 'recovery' });
        expect((await fetch(`${base}/healthz`)).status).toBe(200);
        const { rows } = await sql<{ message_id: string }>`SELECT message_id FROM example_message_v1 ORDER BY pk`.execute(database.db);
        expect(rows.map((r) => r.message_id)).toEqual(['before', 'after']);
      } finally {
        await app.close();
        await database.close();
        await second.release();
      }
    } finally {
      await first.release();
    }
  });
});
