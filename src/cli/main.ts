/**
 * The `switchboard` command line: wires the commands in commands/ onto commander and
 * turns errors into messages and exit codes (0 ok, 1 failed, 2 usage). `main` takes its
 * context as an argument so tests run the real CLI in-process.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Command, CommanderError } from 'commander';
import { ConfigError, withDotEnv } from '../config.ts';
import { coerceError, isSwitchboardError } from '../engine/errors.ts';
import { ROOT } from '../root.ts';
import { registerAdminToken } from './commands/admin-token.ts';
import { registerBackfill } from './commands/backfill.ts';
import { registerDb } from './commands/db.ts';
import { registerDemo } from './commands/demo.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerIntegrations } from './commands/integrations.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerServe } from './commands/serve.ts';
import { registerServices } from './commands/services.ts';
import { registerSql } from './commands/sql.ts';
import { registerStatus } from './commands/status.ts';
import { registerUssd } from './commands/ussd.ts';
import type { CliContext } from './context.ts';

const USAGE_CODES = new Set(['SB_ERR_USAGE', 'SB_ERR_UNKNOWN_SERVICE', 'SB_ERR_INTEGRATION_REF']);
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

export function processContext(): CliContext {
  // `switchboard … | head` closes the pipe early: the reader has what it wanted, which is no error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      process.exit(process.exitCode ?? 0);
    });
  }
  return {
    loadRegistry: async () => (await import('../replicators/index.ts')).defaultRegistry(),
    env: withDotEnv(process.env, process.cwd()),
    cwd: process.cwd(),
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    exitCode: 0,
    async confirm(question) {
      if (!process.stdin.isTTY) return false;
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return /^y(es)?$/i.test((await rl.question(question)).trim());
      } finally {
        rl.close();
      }
    },
    untilStopped() {
      return new Promise((resolve) => {
        const stop = (signal: string) => {
          resolve(signal);
          // A second signal means "now": do not wait for in-flight work.
          process.once('SIGINT', () => process.exit(130));
          process.once('SIGTERM', () => process.exit(143));
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    },
  };
}

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('switchboard')
    .description('Replicates helpdesk and SMS/USSD messages through PostgreSQL until both sides converge.')
    .version(VERSION, '-V, --version', 'print the version')
    .option('--database-url <url>', 'the Postgres to use, for any command (instead of DATABASE_URL or the embedded server)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) });
  // The flag wins over the environment: it is the more explicit of the two.
  program.hook('preAction', () => {
    const url = program.opts<{ databaseUrl?: string }>().databaseUrl;
    if (url) ctx.env = { ...ctx.env, DATABASE_URL: url };
  });
  registerServe(program, ctx);
  registerMigrate(program, ctx);
  registerIntegrations(program, ctx);
  registerServices(program, ctx);
  registerBackfill(program, ctx);
  registerSql(program, ctx);
  registerStatus(program, ctx);
  registerDb(program, ctx);
  registerDoctor(program, ctx);
  registerAdminToken(program, ctx);
  registerDemo(program, ctx);
  registerUssd(program, ctx);
  for (const command of program.commands) command.exitOverride();
  for (const command of program.commands.flatMap((c) => c.commands)) command.exitOverride();
  return program;
}

export async function main(argv: readonly string[], ctx: CliContext = processContext()): Promise<number> {
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv]);
    return ctx.exitCode;
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      // Help and version exit 0; every other commander error is a usage error.
      return thrown.exitCode === 0 ? 0 : 2;
    }
    const error = coerceError(thrown);
    if (isSwitchboardError(error) || error instanceof ConfigError) {
      ctx.stderr.write(`error: ${error.message}\n`);
      return isSwitchboardError(error) && !USAGE_CODES.has(error.code) ? 1 : 2;
    }
    ctx.stderr.write(`error: ${error.message}\n`);
    if (ctx.env.LOG_LEVEL === 'debug' && error.stack) ctx.stderr.write(`${error.stack}\n`);
    return 1;
  }
}
