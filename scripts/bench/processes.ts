/**
 * Child processes of the bench (the server under test, the baseline server, the load
 * generator): started with tsx, their output kept for error messages, and all of them
 * stopped at the end or on Ctrl-C, whatever state the run is in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
const running = new Set<ChildProcess>();

export interface Child {
  process: ChildProcess;
  pid: number;
  /** Everything written so far on stdout and stderr (the last 64 kB). */
  output(): string;
  /** Resolves with the first stdout/stderr line matching pattern. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** Resolves with its stdout when it exits 0; rejects with its output otherwise. */
  done(): Promise<string>;
}

export function startChild(args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  let stdout = '';
  const listeners = new Set<() => void>();
  const collect = (isStdout: boolean) => (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output = (output + text).slice(-65_536);
    if (isStdout) stdout += text;
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', collect(true));
  child.stderr!.on('data', collect(false));
  const exited = once(child, 'exit').then(([code]) => {
    running.delete(child);
    return code as number | null;
  });
  return {
    process: child,
    pid: child.pid!,
    output: () => output,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(output);
          if (!match) return;
          cleanup();
          resolve(match);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${args.join(' ')}: no ${pattern} within ${timeoutMs} ms:\n${output}`));
        }, timeoutMs);
        const onExit = () => {
          cleanup();
          reject(new Error(`${args.join(' ')} exited before ${pattern}:\n${output}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async done() {
      const code = await exited;
      if (code !== 0) throw new Error(`${args.join(' ')} exited with ${code}:\n${output}`);
      return stdout;
    },
  };
}

/** Every child still running, killed at once (Ctrl-C, or a failed run). */
export function killAll(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** A tsx script of this repository, e.g. `scripts/bench/load.ts`. */
export const tsxArgs = (script: string, ...args: string[]): string[] => ['--import', 'tsx', path.join(ROOT, script), ...args];
