/**
 * What every CLI command receives: its output streams, environment and registry, so
 * the whole CLI can run in-process in tests with a test registry and captured output,
 * and a way to open the runtime (database, engine) when the command needs it. The logger
 * and the runtime load when a command asks for them: `--help` never loads either.
 */
import type { Readable, Writable } from 'node:stream';
import { loadConfig, type Config } from '../config.ts';
import type { Registry } from '../engine/registry.ts';
import type { Logger } from '../log.ts';
import type { Runtime, RuntimeMode } from '../runtime.ts';

export interface CliContext {
  /** The replicators: loaded on demand, since they bring every provider client with them. */
  loadRegistry(): Promise<Registry>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** What the user types (`ussd try` reads keypresses from it). */
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  /** Answers a yes/no question on a terminal; false when there is none. */
  confirm(question: string): Promise<boolean>;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  untilStopped(): Promise<string>;
  /** Set by a command: 0 success, 1 failure, 2 usage error. */
  exitCode: number;
}

export function config(ctx: CliContext): Config {
  return loadConfig(ctx.env, ctx.cwd);
}

/**
 * The logger of a command: long-running ones log at LOG_LEVEL; one-shot commands keep quiet
 * (warn) unless it is set, since their output is the result. Human lines on a terminal.
 */
export async function cliLogger(ctx: CliContext, cfg: Config, oneShot: boolean): Promise<Logger> {
  const { createLogger } = await import('../log.ts');
  return createLogger(oneShot && !ctx.env.LOG_LEVEL ? 'warn' : cfg.logLevel, cfg.logFormat ?? (ctx.stderr.isTTY ? 'pretty' : 'json'));
}

/**
 * Open the runtime for one command and always close it (stopping embedded Postgres if
 * this was its last user). Commands that write migrate first, so they work on a fresh data
 * dir; read commands (`read`, `inspect`) never create a cluster or migrate: they say what
 * they found instead.
 */
export async function withRuntime<T>(ctx: CliContext, fn: (rt: Runtime) => Promise<T>, mode: RuntimeMode = 'migrate'): Promise<T> {
  const cfg = config(ctx);
  const log = await cliLogger(ctx, cfg, true);
  const { openRuntime } = await import('../runtime.ts');
  const runtime = await openRuntime({ config: cfg, log, registry: await ctx.loadRegistry(), mode });
  try {
    return await fn(runtime);
  } finally {
    await runtime.close();
  }
}

export function writeJson(ctx: CliContext, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function writeLine(ctx: CliContext, text = ''): void {
  ctx.stdout.write(`${text}\n`);
}
