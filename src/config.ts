/**
 * Process configuration, read once from the environment and validated.
 * Every setting has a default so `npm start` works with nothing set; the README's
 * configuration table must list exactly these variables.
 */
import path from 'node:path';
import { z } from 'zod';

const int = (min: number) => z.coerce.number().int().min(min);

const schema = z.object({
  DATABASE_URL: z.string().min(1).optional(),
  SWITCHBOARD_DATA_DIR: z.string().min(1).optional(),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0).max(65535).default(3000),
  PUBLIC_URL: z.url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SWITCHBOARD_PG_POOL_SIZE: int(2).default(10),
  SWITCHBOARD_WORKER_CONCURRENCY: int(1).default(4),
  SWITCHBOARD_POLL_CRON: z.string().min(1).default('* * * * *'),
  SWITCHBOARD_BODY_LIMIT: int(1024).default(1024 * 1024),
  SWITCHBOARD_WEBHOOK_LOG_RETENTION_DAYS: int(1).default(7),
  SWITCHBOARD_SQL_TIMEOUT_MS: int(1).default(15_000),
  SWITCHBOARD_SQL_MAX_ROWS: int(1).default(1000),
});

export interface Config {
  /** Postgres to use; unset means the embedded server under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  host: string;
  port: number;
  /** Base URL the providers reach us on; webhook URLs printed by the CLI start with it. */
  publicUrl: string;
  logLevel: z.infer<typeof schema>['LOG_LEVEL'];
  poolSize: number;
  workerConcurrency: number;
  pollCron: string;
  bodyLimit: number;
  webhookLogRetentionDays: number;
  sqlTimeoutMs: number;
  sqlMaxRows: number;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${issues.join('; ')}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(cwd, e.SWITCHBOARD_DATA_DIR ?? '.switchboard'),
    host: e.HOST,
    port: e.PORT,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    logLevel: e.LOG_LEVEL,
    poolSize: e.SWITCHBOARD_PG_POOL_SIZE,
    workerConcurrency: e.SWITCHBOARD_WORKER_CONCURRENCY,
    pollCron: e.SWITCHBOARD_POLL_CRON,
    bodyLimit: e.SWITCHBOARD_BODY_LIMIT,
    webhookLogRetentionDays: e.SWITCHBOARD_WEBHOOK_LOG_RETENTION_DAYS,
    sqlTimeoutMs: e.SWITCHBOARD_SQL_TIMEOUT_MS,
    sqlMaxRows: e.SWITCHBOARD_SQL_MAX_ROWS,
  };
}
