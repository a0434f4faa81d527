/**
 * Opens the database a process works on: `DATABASE_URL` when set, otherwise the
 * embedded server under the data directory. One pg pool per process, shared by kysely
 * and raw queries; graphile-worker gets its own pool (see jobs/worker.ts).
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Config } from '../config.ts';
import { SwitchboardError } from '../engine/errors.ts';
import { redactUrl, type Logger } from '../log.ts';
import { acquireEmbeddedPostgres, EMBEDDED_DEFAULT_DATABASE, type EmbeddedPostgres } from './embedded-postgres.ts';
import type { Database } from './schema.ts';

/** bigint ids and counts fit in a JS number; pg would return them as strings. */
export const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8 && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export interface DatabaseHandle {
  url: string;
  pool: pg.Pool;
  db: Kysely<Database>;
  close(): Promise<void>;
}

export function createPool(url: string, max: number, log: Logger): pg.Pool {
  // A request waits at most this long for a connection, then fails (503 on webhooks) instead of hanging.
  const pool = new pg.Pool({ connectionString: url, max, types: pgTypes, application_name: 'switchboard', connectionTimeoutMillis: 10_000 });
  // An idle client losing its connection must not crash the process (graphile-worker#178).
  pool.on('error', (error) => log.warn({ err: error.message }, 'idle database client error'));
  pool.on('connect', (client) => client.on('error', (error) => log.warn({ err: error.message }, 'database client error')));
  return pool;
}

export function wrapPool(url: string, pool: pg.Pool, onClose: () => Promise<void> = async () => {}): DatabaseHandle {
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  let closed: Promise<void> | undefined;
  return {
    url,
    pool,
    db,
    close() {
      closed ??= db.destroy().then(onClose);
      return closed;
    },
  };
}

export async function resolveDatabaseUrl(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  log: Logger,
  options: { create?: boolean } = {},
): Promise<{ url: string; embedded: EmbeddedPostgres | null }> {
  if (config.databaseUrl) return { url: config.databaseUrl, embedded: null };
  const embedded = await acquireEmbeddedPostgres({ dataDir: config.dataDir, log, ...options });
  return { url: embedded.urlFor(EMBEDDED_DEFAULT_DATABASE), embedded };
}

/**
 * A backfill pass holds a connection for its whole length (its advisory lock), and each of
 * its delivery lanes one more at a time (an idempotency row lock around an outside call, or
 * a query): the pool must cover every lane of every concurrent pass, or lanes would wait on
 * each other behind slow providers.
 */
export const poolSizeFor = (config: Pick<Config, 'poolSize' | 'workerConcurrency' | 'deliveryConcurrency'>) =>
  Math.max(config.poolSize, config.workerConcurrency * (config.deliveryConcurrency + 1) + 4);

export async function openDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'poolSize' | 'workerConcurrency' | 'deliveryConcurrency'>,
  log: Logger,
  options: { create?: boolean } = {},
): Promise<DatabaseHandle> {
  const { url, embedded } = await resolveDatabaseUrl(config, log, options);
  const pool = createPool(url, poolSizeFor(config), log);
  const handle = wrapPool(url, pool, async () => embedded?.release());
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await handle.close();
    const hint = config.databaseUrl ? 'check DATABASE_URL, or unset it to use the embedded server' : `see ${config.dataDir}`;
    throw new SwitchboardError('SB_ERR_DATABASE_UNAVAILABLE', `cannot reach Postgres at ${redactUrl(url)}: ${(error as Error).message}; ${hint}`, {
      cause: error,
    });
  }
  return handle;
}
