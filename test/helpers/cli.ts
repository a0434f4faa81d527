/** Runs the real CLI in-process against a test database, capturing its output. */
import { Readable, Writable } from 'node:stream';
import { main } from '../../src/cli/main.ts';
import type { CliContext } from '../../src/cli/context.ts';
import type { Registry } from '../../src/engine/registry.ts';
import { exampleRegistry } from '../fixtures/example-replicators.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json<T = any>(): T;
}

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

export async function runCli(
  databaseUrl: string,
  args: string[],
  options: { confirm?: boolean; env?: Record<string, string>; registry?: Registry; stdin?: string } = {},
): Promise<CliRun> {
  const out = capture();
  const err = capture();
  const ctx: CliContext = {
    loadRegistry: async () => options.registry ?? exampleRegistry(),
    env: { DATABASE_URL: databaseUrl, PUBLIC_URL: 'https://sb.example.org', LOG_LEVEL: 'silent', ...options.env },
    cwd: process.cwd(),
    stdin: Readable.from(options.stdin === undefined ? [] : [options.stdin]),
    stdout: out.stream,
    stderr: err.stream,
    exitCode: 0,
    confirm: async () => options.confirm ?? false,
    untilStopped: () => new Promise(() => {}),
  };
  const code = await main(['node', 'switchboard', ...args], ctx);
  return { code, stdout: out.text(), stderr: err.text(), json: () => JSON.parse(out.text()) };
}
