import { describe, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.ts';
import { onceEver, onceEverMany } from '../../src/engine/idempotency.ts';
import { useTestDatabase } from '../helpers/database.ts';

const database = useTestDatabase();

describe('onceEver', () => {
  it('calls out once and returns the stored result afterwards', async () => {
    let calls = 0;
    const call = async () => ({ sid: `SM${++calls}` });
    const first = await onceEver(database().db, 'send-1', call);
    const second = await onceEver(database().db, 'send-1', call);
    expect(first).toEqual({ result: { sid: 'SM1' }, ran: true });
    expect(second).toEqual({ result: { sid: 'SM1' }, ran: false });
    expect(calls).toBe(1);
  });

  it('records nothing when the call throws, so it runs again', async () => {
    let calls = 0;
    await expect(
      onceEver(database().db, 'send-2', async () => {
        calls++;
        throw new Error('provider down');
      }),
    ).rejects.toThrow('provider down');
    const retry = await onceEver(database().db, 'send-2', async () => ++calls);
    expect(retry).toEqual({ result: 2, ran: true });
  });

  it('serialises concurrent callers: one calls out, the others get its result', async () => {
    let calls = 0;
    const call = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 100));
      return 'only-once';
    };
    const results = await Promise.all(Array.from({ length: 5 }, () => onceEver(database().db, 'send-3', call)));
    expect(calls).toBe(1);
    expect(results.map((r) => r.result)).toEqual(Array(5).fill('only-once'));
    expect(results.filter((r) => r.ran)).toHaveLength(1);
  });

  it('keeps different keys independent', async () => {
    const a = await onceEver(database().db, 'key-a', async () => 'a');
    const b = await onceEver(database().db, 'key-b', async () => 'b');
    expect([a.result, b.result]).toEqual(['a', 'b']);
  });
});

describe('onceEverMany', () => {
  const keysOf = async (scope: string) =>
    (await sql<{ key: string; result: unknown }>`SELECT key, result FROM idempotency_keys WHERE scope = ${scope} AND completed_at IS NOT NULL ORDER BY key`.execute(database().db)).rows;

  it('runs each new key once, returns stored results for old ones, and a failing call records nothing', async () => {
    await onceEver(database().db, 'b', async () => 'stored earlier', 'many-1');
    let calls = 0;
    const settled = await onceEverMany(
      database().db,
      [
        { key: 'a', call: async () => `a${++calls}` },
        { key: 'b', call: async () => `b${++calls}` },
        { key: 'c', call: async () => { calls++; throw new Error('provider down'); } },
      ],
      async () => {},
      'many-1',
    );
    expect(settled).toEqual([
      { ok: true, result: expect.stringMatching(/^a/), ran: true },
      { ok: true, result: 'stored earlier', ran: false },
      { ok: false, error: expect.objectContaining({ message: 'provider down' }) },
    ]);
    expect(calls).toBe(2);
    expect(await keysOf('many-1')).toEqual([{ key: 'a', result: settled[0]!.ok && settled[0]!.result }, { key: 'b', result: 'stored earlier' }]);
    const again = await onceEverMany(database().db, [{ key: 'c', call: async () => 'c now' }], async () => {}, 'many-1');
    expect(again).toEqual([{ ok: true, result: 'c now', ran: true }]);
  });

  it('commits the caller\'s record with the results, and neither when the record fails', async () => {
    await sql`CREATE TABLE IF NOT EXISTS many_outcomes (key text PRIMARY KEY)`.execute(database().db);
    const record = (fail: boolean) => async (trx: Kysely<Database>) => {
      await sql`INSERT INTO many_outcomes VALUES ('x')`.execute(trx);
      if (fail) throw new Error('record failed');
    };
    await expect(onceEverMany(database().db, [{ key: 'x', call: async () => 1 }], record(true), 'many-2')).rejects.toThrow('record failed');
    expect(await keysOf('many-2')).toEqual([]);
    expect((await sql`SELECT * FROM many_outcomes`.execute(database().db)).rows).toEqual([]);
    await onceEverMany(database().db, [{ key: 'x', call: async () => 1 }], record(false), 'many-2');
    expect(await keysOf('many-2')).toEqual([{ key: 'x', result: 1 }]);
    expect((await sql`SELECT * FROM many_outcomes`.execute(database().db)).rows).toEqual([{ key: 'x' }]);
  });

  it('two batches sharing keys in opposite orders neither deadlock nor call a key twice', async () => {
    const calls: string[] = [];
    const slow = (key: string) => async () => {
      calls.push(key);
      await new Promise((r) => setTimeout(r, 50));
      return key;
    };
    const keys = ['k1', 'k2', 'k3', 'k4'];
    const [forward, backward] = await Promise.all([
      onceEverMany(database().db, keys.map((key) => ({ key, call: slow(key) })), async () => {}, 'many-3'),
      onceEverMany(database().db, [...keys].reverse().map((key) => ({ key, call: slow(key) })), async () => {}, 'many-3'),
    ]);
    expect(calls.sort()).toEqual(keys);
    expect(forward.map((s) => s.ok && s.result)).toEqual(keys);
    expect(backward.map((s) => s.ok && s.result)).toEqual([...keys].reverse());
    expect([...forward, ...backward].filter((s) => s.ok && s.ran)).toHaveLength(4);
  });

  it('refuses a batch with a key twice', async () => {
    await expect(onceEverMany(database().db, [{ key: 'd', call: async () => 1 }, { key: 'd', call: async () => 2 }], async () => {}, 'many-4')).rejects.toThrow('distinct');
  });
});
