/**
 * The Dockerfile's own steps, run outside a container (no container image can be pulled
 * where these tests run): exactly what its COPY lines name, into a clean directory; its RUN
 * line; its CMD with its ENV, against a test database; its HEALTHCHECK until it passes.
 * And compose.yaml runs that image as the web and the worker, on PostgreSQL 17.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { buildsDir, fingerprint } from '../../bin/build.js';
import { useTestDatabase } from '../helpers/database.ts';
import { freePort, ROOT } from '../helpers/processes.ts';
import { waitFor } from '../helpers/wait.ts';

const execFileAsync = promisify(execFile);
const database = useTestDatabase();
const workdir = path.join(os.tmpdir(), `sb-image-${process.pid}-${Date.now()}`);
const stops: (() => void)[] = [];

afterAll(async () => {
  for (const stop of stops) stop();
  await fs.rm(workdir, { recursive: true, force: true });
});

interface Stage {
  copies: { sources: string[]; dest: string }[];
  runs: string[];
  env: Record<string, string>;
  cmd: string[];
  healthcheck: string[];
}

/** The instructions of each stage this test replays (one instruction per line, as ours are written). */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (!line || line.startsWith('#')) continue;
    const [instruction, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (instruction === 'FROM') stages.push({ copies: [], runs: [], env: {}, cmd: [], healthcheck: [] });
    const stage = stages.at(-1)!;
    if (instruction === 'COPY' && !args.startsWith('--from')) stage.copies.push({ sources: rest.slice(0, -1), dest: rest.at(-1)! });
    if (instruction === 'RUN') stage.runs.push(args);
    if (instruction === 'ENV') for (const pair of rest) stage.env[pair.split('=')[0]!] = pair.slice(pair.indexOf('=') + 1);
    if (instruction === 'CMD') stage.cmd = JSON.parse(args) as string[];
    if (instruction === 'HEALTHCHECK') stage.healthcheck = JSON.parse(args.slice(args.indexOf('CMD ') + 4)) as string[];
  }
  return stages;
}

const node = (args: string[]) => (args[0] === 'node' ? [process.execPath, ...args.slice(1)] : args);

describe('the Dockerfile, step by step', () => {
  it('installs in a clean directory, starts the web process, and passes its HEALTHCHECK', { timeout: 600_000 }, async () => {
    const [build, runtime] = parseDockerfile(await fs.readFile(path.join(ROOT, 'Dockerfile'), 'utf8'));
    expect(build!.runs).toEqual(['npm ci --omit=dev --no-audit --no-fund']);
    await fs.mkdir(workdir, { recursive: true });
    for (const { sources, dest } of build!.copies) {
      for (const source of sources) {
        const target = dest.endsWith('/') ? path.join(workdir, dest, source) : path.join(workdir, dest);
        await fs.cp(path.join(ROOT, source), target, { recursive: true });
      }
    }
    for (const command of build!.runs) await execFileAsync('sh', ['-c', command], { cwd: workdir, maxBuffer: 64 * 1024 * 1024 });
    // What the image holds: production dependencies only, the dashboard bundle, and the build of exactly its sources.
    await expect(fs.access(path.join(workdir, 'node_modules/vitest'))).rejects.toThrow();
    await fs.access(path.join(workdir, 'dist/web/main.js'));
    expect(await fs.readdir(buildsDir(workdir))).toEqual([fingerprint(workdir)]);

    const port = String(await freePort());
    const env = { ...process.env, ...runtime!.env, PORT: port, DATABASE_URL: database().url, LOG_LEVEL: 'info' };
    const [healthBin, ...healthArgs] = node(runtime!.healthcheck);
    const healthy = () => execFileAsync(healthBin!, healthArgs, { cwd: workdir, env }).then(() => true, () => false);
    expect(await healthy()).toBe(false);

    const [bin, ...args] = node(runtime!.cmd);
    const web = spawn(bin!, args, { cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    web.stdout.on('data', (c: Buffer) => (output += c.toString()));
    web.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => web.on('exit', resolve));
    stops.push(() => web.kill('SIGKILL'));
    await waitFor(
      async () => {
        if (web.exitCode !== null) throw new Error(`the CMD exited: ${output}`);
        return healthy();
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'the HEALTHCHECK to pass' },
    );
    expect(output).toMatch(/^\{.*"msg":"listening"/m);
    expect(output).not.toContain('building dist/cli');
    web.kill('SIGTERM');
    expect(await exited, output).toBe(0);
  });

  it('compose.yaml runs that image as one web and one worker on PostgreSQL 17', async () => {
    const [, runtime] = parseDockerfile(await fs.readFile(path.join(ROOT, 'Dockerfile'), 'utf8'));
    const compose = parseYaml(await fs.readFile(path.join(ROOT, 'compose.yaml'), 'utf8'), { merge: true }) as {
      services: Record<string, { image?: string; build?: string; command?: string[]; environment?: Record<string, string> }>;
    };
    const { postgres, web, worker } = compose.services;
    expect(Object.keys(compose.services).sort()).toEqual(['postgres', 'web', 'worker']);
    expect(postgres!.image).toBe('postgres:17');
    expect([web!.build, worker!.build]).toEqual(['.', '.']);
    expect(web!.command).toEqual(runtime!.cmd);
    expect(worker!.command).toEqual(['node', 'bin/switchboard.js', 'worker']);
    for (const service of [web!, worker!]) expect(new URL(service.environment!.DATABASE_URL!.replace(/\$\{[^}]*\}/, 'x')).host).toBe('postgres:5432');
  });
});
