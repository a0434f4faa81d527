/** Throwaway embedded-Postgres data dirs for tests that start their own server. */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isProcessAlive } from '../../src/db/file-lock.ts';
import { waitFor } from './wait.ts';

export const tempDataDir = (label: string) => path.join(os.tmpdir(), `sb-${label}-${process.pid}-${Date.now()}`);

export async function clusterDirOf(dataDir: string): Promise<string> {
  return (JSON.parse(await fs.readFile(path.join(dataDir, 'cluster.json'), 'utf8')) as { clusterDir: string }).clusterDir;
}

/** The running postmaster's pid, or null. */
export async function postmasterPid(dataDir: string): Promise<number | null> {
  const text = await fs.readFile(path.join(await clusterDirOf(dataDir), 'postmaster.pid'), 'utf8').catch(() => null);
  return text ? Number(text.split('\n')[0]) : null;
}

/** Stop a server a failed test may have left running, then delete the data (and cluster) dir. */
export async function removeDataDir(dataDir: string): Promise<void> {
  const clusterDir = await clusterDirOf(dataDir).catch(() => null);
  const pid = await postmasterPid(dataDir).catch(() => null);
  if (pid && isProcessAlive(pid)) {
    process.kill(pid, 'SIGINT');
    await waitFor(() => !isProcessAlive(pid), { timeoutMs: 10_000, what: 'postmaster to exit' });
  }
  await fs.rm(dataDir, { recursive: true, force: true });
  if (clusterDir) await fs.rm(clusterDir, { recursive: true, force: true });
}
