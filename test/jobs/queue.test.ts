/**
 * src/jobs/queue.ts against a migrated database: jobs added, merged by key, found, counted,
 * listed and removed, in the caller's transaction. And the layering it exists for: nothing
 * outside src/jobs/ loads graphile-worker, nothing but queue.ts names its schema, and
 * engine/errors.ts stays a leaf so db/ and providers/ import nothing above them.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addJob, jobCounts, listJobs, queuedFor, removeJob } from '../../src/jobs/queue.ts';
import { useTestDatabase } from '../helpers/database.ts';
import { ROOT } from '../helpers/processes.ts';

const database = useTestDatabase();

const payloadOf = async (key: string) =>
  (await database().pool.query<{ payload: unknown }>('SELECT payload FROM graphile_worker._private_jobs WHERE key = $1', [key])).rows.map((r) => r.payload);

describe('the job queue', () => {
  it('adds a job, merges a second add of its key into it, finds it waiting, lists, counts and removes it', async () => {
    const { db } = database();
    const key = 'queue-test:1';
    const before = await jobCounts(db);
    expect(await addJob(db, 'queue_test', [{ n: 1 }], { maxAttempts: 3, key, keyMode: 'replace' })).toBe(true);
    expect(await addJob(db, 'queue_test', [{ n: 2 }], { maxAttempts: 3, key, keyMode: 'replace' })).toBe(true);
    expect(await payloadOf(key)).toEqual([[{ n: 1 }, { n: 2 }]]);

    const queued = (k: string, waiting: unknown) => queuedFor(db, { key: k, waiting, running: [{ n: 1 }], soonSeconds: 1 });
    expect(await queued(key, [{ n: 2 }])).toEqual({ dueNow: true, dueSoon: true, running: false });
    expect(await queued(key, [{ n: 3 }])).toEqual({ dueNow: false, dueSoon: false, running: false });
    expect(await queued('queue-test:none', [{ n: 1 }])).toEqual({ dueNow: false, dueSoon: false, running: false });
    // Taken by a worker: running (found by payload), no longer waiting.
    await database().pool.query('UPDATE graphile_worker._private_jobs SET locked_at = now(), locked_by = $2 WHERE key = $1', [key, 'test-worker']);
    expect(await queued('queue-test:other', [{ n: 2 }])).toEqual({ dueNow: false, dueSoon: false, running: true });
    await database().pool.query("UPDATE graphile_worker._private_jobs SET locked_at = now() - interval '3 minutes' WHERE key = $1", [key]);
    expect((await queued('queue-test:other', [{ n: 2 }])).running).toBe(false); // a dead worker's, most likely
    await database().pool.query('UPDATE graphile_worker._private_jobs SET locked_at = NULL, locked_by = NULL WHERE key = $1', [key]);

    expect(await jobCounts(db)).toEqual({ ...before, queued: before.queued + 1 });
    const listed = (await listJobs(db, 100)).find((j) => j.key === key);
    expect(listed).toMatchObject({ task: 'queue_test', state: 'queued', attempts: 0, max_attempts: 3 });

    await removeJob(db, key);
    expect(await payloadOf(key)).toEqual([]);
    expect(await jobCounts(db)).toEqual(before);
  });

  it('a job added for later is not waiting yet, and preserve_run_at keeps it for later', async () => {
    const { db } = database();
    const key = 'queue-test:later';
    await addJob(db, 'queue_test', [{ n: 1 }], { delaySeconds: 3600, maxAttempts: 3, key, keyMode: 'preserve_run_at' });
    await addJob(db, 'queue_test', [{ n: 2 }], { delaySeconds: 7200, maxAttempts: 3, key, keyMode: 'preserve_run_at' });
    expect(await queuedFor(db, { key, waiting: [{ n: 1 }], running: [], soonSeconds: 1 })).toMatchObject({ dueNow: false, dueSoon: false });
    expect(await queuedFor(db, { key, waiting: [{ n: 1 }], running: [], soonSeconds: 3600 })).toMatchObject({ dueNow: false, dueSoon: true });
    const { rows } = await database().pool.query<{ hours: number }>(
      "SELECT round(extract(epoch FROM run_at - now()) / 3600)::int AS hours FROM graphile_worker._private_jobs WHERE key = $1",
      [key],
    );
    expect(rows).toEqual([{ hours: 1 }]);
  });

  it('a job added in a transaction that rolls back is not there', async () => {
    const { db } = database();
    const key = 'queue-test:rolled-back';
    await expect(
      db.transaction().execute(async (trx) => {
        await addJob(trx, 'queue_test', [{ n: 1 }], { maxAttempts: 3, key, keyMode: 'replace' });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await payloadOf(key)).toEqual([]);
  });
});

async function sources(dir: string): Promise<{ file: string; text: string }[]> {
  const entries = await fs.readdir(path.join(ROOT, dir), { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile() && /\.tsx?$/.test(e.name)).map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
  return Promise.all(files.map(async (file) => ({ file, text: await fs.readFile(path.join(ROOT, file), 'utf8') })));
}

const importsOf = (text: string) => [...text.matchAll(/^(?:import|export)[^;]*?from '([^']+)'/gms)].map((m) => m[1]!);

describe('layering', () => {
  it('only src/jobs/ loads graphile-worker, and only queue.ts names its schema', async () => {
    const all = await sources('src');
    expect(all.filter((s) => !s.file.startsWith('src/jobs/') && importsOf(s.text).includes('graphile-worker')).map((s) => s.file)).toEqual([]);
    expect(all.filter((s) => s.file !== 'src/jobs/queue.ts' && /graphile_worker\./.test(s.text)).map((s) => s.file)).toEqual([]);
  });

  it('engine/errors.ts imports nothing; db/ and providers/ import nothing above them but it and the queue', async () => {
    const errors = await fs.readFile(path.join(ROOT, 'src/engine/errors.ts'), 'utf8');
    expect(importsOf(errors)).toEqual([]);
    // The migration runner installs the queue's schema; the queue itself stands on nothing of ours but the logger.
    const queue = await fs.readFile(path.join(ROOT, 'src/jobs/queue.ts'), 'utf8');
    expect(importsOf(queue).filter((spec) => spec.startsWith('.'))).toEqual(['../log.ts']);
    const above = /^\.\.\/(\.\.\/)?(engine|cli|http|jobs|replicators|web|demo|simulators|ussd)\/|^\.\.\/(\.\.\/)?runtime\.ts$/;
    for (const { file, text } of [...(await sources('src/db')), ...(await sources('src/providers'))]) {
      const upward = importsOf(text).filter((spec) => above.test(spec) && !/(engine\/errors|jobs\/queue)\.ts$/.test(spec));
      expect(upward, file).toEqual([]);
    }
  });
});
