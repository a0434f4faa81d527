/**
 * 7. The CLI's own cost: CPU time (user + sys, the command and every process it runs) of
 * `switchboard --help` against `node -e 0`, medians of alternating runs; and the wall time
 * of `switchboard status` against a running install (the demo's integrations, server up).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT } from './processes.ts';
import { median, ratio, round } from './stats.ts';
import type { System } from './system.ts';

const run = promisify(execFile);

export interface CliResult {
  cli_help_cpu_ms: number;
  cli_node_cpu_ms: number;
  cli_help_cpu_ratio: number;
  cli_status_ms: number;
  cli_runs: number;
}

/**
 * CPU milliseconds of a node command and its descendants: bash's `times` prints the shell's
 * own user/sys, then its waited-for children's (getrusage, microsecond resolution, unlike
 * /proc's clock ticks).
 */
async function cpuMs(args: string[], env: Record<string, string>): Promise<number> {
  const quoted = [process.execPath, ...args].map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`).join(' ');
  const { stdout } = await run('bash', ['-c', `${quoted} >/dev/null 2>&1 || echo failed; times`], { cwd: ROOT, env: { ...process.env, ...env } });
  const lines = stdout.trim().split('\n');
  if (lines.length !== 2) throw new Error(`${args.join(' ')}: ${stdout}`);
  const seconds = [...lines[1]!.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return seconds.reduce((a, b) => a + b, 0) * 1000;
}

export async function measureCli(system: System, options: { runs: number }): Promise<CliResult> {
  const help: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < options.runs; i++) {
    help.push(await cpuMs(['bin/switchboard.js', '--help'], {}));
    bare.push(await cpuMs(['-e', '0'], {}));
  }
  const server = await system.start();
  const status: number[] = [];
  try {
    for (let i = 0; i < options.runs; i++) {
      const started = performance.now();
      await run(process.execPath, ['bin/switchboard.js', 'status'], { cwd: ROOT, env: { ...process.env, ...system.env } });
      status.push(performance.now() - started);
    }
  } finally {
    await server.stop();
  }
  return {
    cli_help_cpu_ms: round(median(help), 0),
    cli_node_cpu_ms: round(median(bare), 0),
    cli_help_cpu_ratio: ratio(median(help), median(bare)),
    cli_status_ms: round(median(status), 0),
    cli_runs: options.runs,
  };
}
