/**
 * A cross-process mutex on the file system, used to serialise work on the embedded
 * Postgres data directory (initdb, start, stop) between processes of ours that start
 * at the same moment. `mkdir` is atomic; the owner's pid inside lets a lock left by a
 * crashed process be broken instead of waited on forever.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, never reaped: containers whose init does not reap) is dead.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

async function lockOwner(lockDir: string): Promise<number | null> {
  try {
    return Number.parseInt(await fs.readFile(path.join(lockDir, 'owner'), 'utf8'), 10);
  } catch {
    return null;
  }
}

export async function withFileLock<T>(lockDir: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fs.mkdir(lockDir);
      await fs.writeFile(path.join(lockDir, 'owner'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = await lockOwner(lockDir);
      // No owner file yet means the lock is being taken right now, unless that
      // process died in between: then the directory is old.
      const abandoned =
        owner === null || Number.isNaN(owner)
          ? Date.now() - (await fs.stat(lockDir).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs > 10_000
          : !isProcessAlive(owner);
      if (abandoned) {
        await fs.rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${lockDir} held by pid ${owner}`);
      await sleep(50 + Math.random() * 50);
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockDir, { recursive: true, force: true });
  }
}
