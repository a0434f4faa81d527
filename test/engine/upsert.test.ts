import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ServiceIntegration } from '../../src/db/schema.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { ingestRows } from '../../src/engine/ingest.ts';
import { upsertRows } from '../../src/engine/upsert.ts';
import { exampleMessage } from '../fixtures/example-replicators.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { createExamplePair, testEngine } from '../helpers/engine.ts';
import { queuedJobs } from '../helpers/jobs.ts';

const database = useTestDatabase();
let engine: Engine;
let messages: ServiceIntegration;
let deliveries: ServiceIntegration;

beforeAll(async () => {
  engine = testEngine(database().db);
  ({ messages, deliveries } = await createExamplePair(engine));
});

const rowsOf = async (table: string, integrationId: number) =>
  (await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table)} WHERE integration_id = ${integrationId} ORDER BY pk`.execute(engine.db)).rows;

describe('upsertRows', () => {
  it('stores every row of a multi-row resource and reports each as inserted', async () => {
    const rows = exampleMessage.toRows!({ messages: [{ id: 'm1', body: 'one', version: 1 }, { id: 'm2', body: 'two', version: 1 }] }, { integration: messages, config: engine.config });
    const result = await upsertRows(engine.db, exampleMessage, messages.id, rows);
    expect(result.map((r) => [r.key, r.changed, r.inserted])).toEqual([
      ['m1', true, true],
      ['m2', true, true],
    ]);
    const stored = await rowsOf('example_message_v1', messages.id);
    expect(stored.map((r) => [r.message_id, r.body, r.version])).toEqual([
      ['m1', 'one', 1],
      ['m2', 'two', 1],
    ]);
    expect(stored[0]!.data).toEqual({ id: 'm1', body: 'one', version: 1 });
  });

  it('lets the update condition refuse stale data and reports the row unchanged', async () => {
    const stale = await upsertRows(engine.db, exampleMessage, messages.id, [{ key: 'm1', columns: { body: 'older', version: 0 }, data: {} }]);
    expect(stale[0]).toMatchObject({ changed: false, inserted: false, pk: null });
    const newer = await upsertRows(engine.db, exampleMessage, messages.id, [{ key: 'm1', columns: { body: 'newer', version: 2 }, data: { v: 2 } }]);
    expect(newer[0]).toMatchObject({ changed: true, inserted: false });
    const stored = await rowsOf('example_message_v1', messages.id);
    expect(stored.find((r) => r.message_id === 'm1')).toMatchObject({ body: 'newer', version: 2, data: { v: 2 } });
  });

  it('keeps a coalesce column when an update brings NULL, and replaces plain columns', async () => {
    await upsertRows(engine.db, exampleMessage, messages.id, [{ key: 'c1', columns: { body: 'b', version: 1, sent_at: '2026-01-02T03:04:05Z' }, data: {} }]);
    await upsertRows(engine.db, exampleMessage, messages.id, [{ key: 'c1', columns: { body: null, version: 2, sent_at: null }, data: {} }]);
    const row = (await rowsOf('example_message_v1', messages.id)).find((r) => r.message_id === 'c1')!;
    expect(row.body).toBeNull();
    expect((row.sent_at as Date).toISOString()).toBe('2026-01-02T03:04:05.000Z');
  });

  it('strips NUL characters that jsonb and text cannot hold', async () => {
    const payload = { id: 'n\u00001', body: 'a\u0000b', nested: { ['k\u0000']: ['x\u0000'] } };
    await upsertRows(engine.db, exampleMessage, messages.id, [{ key: 'n\u00001', columns: { body: 'a\u0000b', version: 1 }, data: payload }]);
    const row = (await rowsOf('example_message_v1', messages.id)).find((r) => r.message_id === 'n1')!;
    expect(row.body).toBe('ab');
    expect(row.data).toEqual({ id: 'n1', body: 'ab', nested: { k: ['x'] } });
  });

  it('keeps the last of duplicate keys in one call', async () => {
    const result = await upsertRows(engine.db, exampleMessage, messages.id, [
      { key: 'd1', columns: { body: 'first', version: 1 }, data: {} },
      { key: 'd1', columns: { body: 'second', version: 1 }, data: {} },
    ]);
    expect(result).toHaveLength(1);
    expect((await rowsOf('example_message_v1', messages.id)).find((r) => r.message_id === 'd1')!.body).toBe('second');
  });

  it('keeps integrations apart: the same remote key in two integrations is two rows', async () => {
    await upsertRows(engine.db, exampleMessage, deliveries.id, [{ key: 'm1', columns: { body: 'other', version: 1 }, data: {} }]);
    expect((await rowsOf('example_message_v1', messages.id)).find((r) => r.message_id === 'm1')!.body).toBe('newer');
  });
});

describe('ingestRows and dependents', () => {
  it('tells dependents about every row with `changed`, and they upsert in the same transaction', async () => {
    await ingestRows(engine, messages, [{ key: 'dep1', columns: { body: 'hello', version: 1 }, data: {} }], { origin: 'webhook' });
    const pending = await rowsOf('example_delivery_v1', deliveries.id);
    expect(pending.map((r) => [r.message_id, r.body, r.delivered_id])).toEqual([['dep1', 'hello', null]]);
    expect(await queuedJobs(engine.db)).toMatchObject([
      { key: `backfill:${deliveries.id}`, payload: [{ integration_id: deliveries.id, trigger: 'dependency' }] },
    ]);

    // Unchanged (stale) row: the dependent is told with changed=false and does nothing.
    await sql`UPDATE example_delivery_v1 SET body = 'marker' WHERE message_id = 'dep1'`.execute(engine.db);
    await ingestRows(engine, messages, [{ key: 'dep1', columns: { body: 'stale', version: 0 }, data: {} }], { origin: 'webhook' });
    expect((await rowsOf('example_delivery_v1', deliveries.id))[0]!.body).toBe('marker');
  });

  it('rolls back the parent row when a dependent fails', async () => {
    await sql`ALTER TABLE example_delivery_v1 ADD CONSTRAINT no_boom CHECK (body <> 'boom')`.execute(engine.db);
    try {
      await expect(
        ingestRows(engine, messages, [{ key: 'boom1', columns: { body: 'boom', version: 1 }, data: {} }], { origin: 'webhook' }),
      ).rejects.toThrow(/no_boom/);
      expect((await rowsOf('example_message_v1', messages.id)).some((r) => r.message_id === 'boom1')).toBe(false);
    } finally {
      await sql`ALTER TABLE example_delivery_v1 DROP CONSTRAINT no_boom`.execute(engine.db);
    }
  });
});
