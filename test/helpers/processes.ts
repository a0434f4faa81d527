/** Child processes of ours for tests that need real process boundaries (signals, crashes, races). */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { waitFor } from './wait.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface Child {
  process: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * `group`: the child leads its own process group and `stop` signals the whole group, as a
 * terminal's Ctrl-C does (and as a SIGKILL must, to take initdb or postgres down with it).
 */
export function spawnNode(args: string[], env: Record<string, string | undefined>, options: { group?: boolean; cwd?: string } = {}): Child {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: options.group ?? false,
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    process: child,
    output: () => output,
    exited,
    stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        if (options.group) process.kill(-child.pid!, signal);
        else child.kill(signal);
      }
      return exited;
    },
  };
}

export const spawnExampleCli = (args: string[], env: Record<string, string | undefined>) =>
  spawnNode(['--import', 'tsx', 'test/fixtures/run-cli.ts', ...args], env);

/** A port free a moment ago, for a child process that must listen on a known port. */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

/** Until `url` answers 200, failing at once with the child's output if it exits first. */
export function untilAnswers(child: Child, url: string, timeoutMs: number): Promise<boolean> {
  return waitFor(
    async () => {
      if (child.process.exitCode !== null) throw new Error(`${url}: the process exited: ${child.output()}`);
      return (await fetch(url).catch(() => null))?.status === 200;
    },
    { timeoutMs, intervalMs: 200, what: `${url} to answer 200` },
  );
}
