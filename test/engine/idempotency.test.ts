import { describe, expect, it } from 'vitest';
import { onceEver } from '../../src/engine/idempotency.ts';
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
