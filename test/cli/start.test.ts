import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/db/file-lock.ts';
import { postmasterPid, removeDataDir, tempDataDir } from '../helpers/data-dir.ts';
import { freePort, spawnNode, untilAnswers, type Child } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait.ts';

const dataDir = tempDataDir('start');
const children: Child[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL')));
  await removeDataDir(dataDir);
});

describe('npx switchboard (the real binary)', () => {
  it('--help lists the commands', async () => {
    const child = spawnNode(['bin/switchboard.js', '--help'], {});
    expect(await child.exited).toBe(0);
    expect(child.output()).toMatch(/start[\s\S]*worker[\s\S]*migrate[\s\S]*integrations[\s\S]*backfill[\s\S]*sql[\s\S]*status/);
  });

  it('start serves /healthz on embedded Postgres and stops cleanly on SIGTERM', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const child = spawnNode(['bin/switchboard.js', 'start'], { DATABASE_URL: undefined, SWITCHBOARD_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn' });
    children.push(child);
    await untilAnswers(child, `http://127.0.0.1:${port}/healthz`, 90_000);
    const postmaster = (await postmasterPid(dataDir))!;
    expect(isProcessAlive(postmaster)).toBe(true);

    expect(await child.stop('SIGTERM')).toBe(0);
    await waitFor(() => !isProcessAlive(postmaster), { timeoutMs: 10_000, what: 'embedded Postgres to stop' });
    expect(await postmasterPid(dataDir)).toBeNull();
  });
});

describe('npm run demo (switchboard demo)', () => {
  it('plays the conversation on simulators until it converges, then stops cleanly', { timeout: 120_000 }, async () => {
    const demoDir = tempDataDir('demo');
    const child = spawnNode(['bin/switchboard.js', 'demo'], { DATABASE_URL: undefined, SWITCHBOARD_DATA_DIR: demoDir, LOG_LEVEL: 'warn' });
    children.push(child);
    try {
      const code = await child.exited;
      const output = child.output();
      expect(code, output).toBe(0);
      expect(output.match(/✓/g)).toHaveLength(9);
      expect(output).toMatch(/Converged: 9 steps in \d+ ms; 7 messages in Front, 2 SMS sent, 4 WhatsApp message\(s\) sent\./);
      expect(output).not.toMatch(/\+1555000\d{4}|\+254711\d{6}/);
    } finally {
      await removeDataDir(path.join(demoDir, 'demo'));
      await fs.rm(demoDir, { recursive: true, force: true });
    }
  });
});
