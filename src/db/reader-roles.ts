/**
 * The database roles that only read: `switchboard_analyst` (the login `db readonly-url`
 * hands out) and `switchboard_sql` (what `switchboard sql` runs as). Both see the tables
 * and views but no credentials, integration URLs or settings; cannot take advisory locks
 * (a migration revokes them from PUBLIC); run read-only transactions with a statement and
 * idle-in-transaction timeout; and have a connection limit. A role can raise its own
 * timeouts with SET, so the worker also ends sessions that run past them
 * (`endOverrunningReaderSessions`).
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { SwitchboardError } from '../engine/errors.ts';
import { pgTypes } from './connect.ts';

export const ANALYST_ROLE = 'switchboard_analyst';
export const SQL_ROLE = 'switchboard_sql';
export const READER_ROLES = [ANALYST_ROLE, SQL_ROLE] as const;
export type ReaderRole = (typeof READER_ROLES)[number];

/** Enough for a BI tool and a notebook or two; never enough to crowd out the server's own connections. */
export const READER_CONNECTION_LIMIT = 5;

/** Tables a reader never sees, and the columns of service_integrations it does (no credentials, URL ids or settings). */
const HIDDEN_TABLES = ['service_integrations', 'idempotency_keys', 'media_files', 'admin_tokens'];
const VISIBLE_INTEGRATION_COLUMNS = ['id', 'service_name', 'depends_on', 'last_backfilled_at', 'last_error_code', 'last_error_message', 'last_error_at', 'created_at', 'updated_at'];

/** Role DDL touches shared catalogs: two databases of one cluster altering a role at once can collide, and a retry succeeds. */
const isCatalogRace = (error: unknown) => {
  const { code, message } = error as { code?: string; message?: string };
  return code === '42710' || code === '23505' || code === '40001' || /tuple concurrently (updated|deleted)/.test(message ?? '');
};

async function retryingCatalogRaces<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isCatalogRace(error) || attempt >= 5) throw error;
      await new Promise((r) => setTimeout(r, 50 * attempt + Math.random() * 50));
    }
  }
}

/** Creates (if needed) and configures a reader role in this database. Needs CREATEROLE; refuses clearly without it. */
export async function configureReaderRole(db: Kysely<any>, role: ReaderRole, options: { timeoutMs: number }): Promise<void> {
  const id = sql.id(role);
  try {
    await retryingCatalogRaces(() =>
      db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ limit: number }>`SELECT rolconnlimit AS limit FROM pg_roles WHERE rolname = ${role}`.execute(trx);
        // Identifiers and literals cannot be bound parameters in DDL; both are ours.
        if (!rows[0]) await sql`CREATE ROLE ${id} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT CONNECTION LIMIT ${sql.lit(READER_CONNECTION_LIMIT)}`.execute(trx);
        else if (rows[0].limit !== READER_CONNECTION_LIMIT) await sql`ALTER ROLE ${id} CONNECTION LIMIT ${sql.lit(READER_CONNECTION_LIMIT)}`.execute(trx);
        const database = sql.id(await currentDatabase(trx));
        const timeout = sql.lit(`${Math.floor(options.timeoutMs)}ms`);
        await sql`ALTER ROLE ${id} IN DATABASE ${database} SET default_transaction_read_only = on`.execute(trx);
        await sql`ALTER ROLE ${id} IN DATABASE ${database} SET statement_timeout = ${timeout}`.execute(trx);
        await sql`ALTER ROLE ${id} IN DATABASE ${database} SET idle_in_transaction_session_timeout = ${timeout}`.execute(trx);
        await sql`GRANT CONNECT ON DATABASE ${database} TO ${id}`.execute(trx);
        await sql`GRANT USAGE ON SCHEMA public TO ${id}`.execute(trx);
        await sql`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${id}`.execute(trx);
        await sql`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${id}`.execute(trx);
        await sql`REVOKE SELECT ON ${sql.join(HIDDEN_TABLES.map((t) => sql.table(t)))} FROM ${id}`.execute(trx);
        await sql`GRANT SELECT (${sql.join(VISIBLE_INTEGRATION_COLUMNS.map((c) => sql.id(c)))}) ON service_integrations TO ${id}`.execute(trx);
      }),
    );
  } catch (error) {
    if ((error as { code?: string }).code === '42501') {
      throw new SwitchboardError('SB_ERR_USAGE', `the database user cannot create or alter the read-only role ${role}: run this as a user with CREATEROLE, or create a read-only role yourself (docs/sql.md)`);
    }
    throw error;
  }
}

/** Sets a new password and lets the role log in: the URL printed is the only place the password exists. */
export async function setReaderPassword(db: Kysely<any>, role: ReaderRole): Promise<string> {
  const password = randomBytes(18).toString('base64url');
  await retryingCatalogRaces(() => sql`ALTER ROLE ${sql.id(role)} WITH LOGIN PASSWORD ${sql.lit(password)}`.execute(db));
  return password;
}

export function readerUrl(databaseUrl: string, role: ReaderRole, password: string): string {
  const url = new URL(databaseUrl);
  url.username = role;
  url.password = password;
  return url.toString();
}

/** Arbitrary constant: "a `switchboard sql` run is logging in", so two runs do not swap passwords under each other. */
const SQL_LOGIN_LOCK_KEY = 0x5b_0010;

/**
 * A connection as `switchboard_sql`, for one `switchboard sql` run. The role gets a
 * password only while this run logs in, and none after, so nothing else can use it.
 */
export async function connectAsSqlRole(pool: pg.Pool, db: Kysely<any>, databaseUrl: string, options: { timeoutMs: number }): Promise<pg.Client> {
  await configureReaderRole(db, SQL_ROLE, options);
  const admin = await pool.connect();
  try {
    await admin.query('SELECT pg_advisory_lock($1)', [SQL_LOGIN_LOCK_KEY]);
    try {
      // Runs in other databases of the cluster share the role: a rare password swap is retried.
      for (let attempt = 1; ; attempt++) {
        const password = randomBytes(18).toString('base64url');
        await retryingCatalogRaces(() => admin.query(`ALTER ROLE ${SQL_ROLE} WITH LOGIN PASSWORD '${password}'`));
        const client = new pg.Client({ connectionString: readerUrl(databaseUrl, SQL_ROLE, password), application_name: 'switchboard sql', types: pgTypes });
        try {
          await client.connect();
          return client;
        } catch (error) {
          if ((error as { code?: string }).code !== '28P01' || attempt >= 3) {
            throw new SwitchboardError('SB_ERR_DATABASE_UNAVAILABLE', `cannot log in as the read-only role ${SQL_ROLE} that switchboard sql runs as: ${(error as Error).message}; the database must accept password logins for it (pg_hba.conf)`, { cause: error });
          }
        }
      }
    } finally {
      await retryingCatalogRaces(() => admin.query(`ALTER ROLE ${SQL_ROLE} WITH NOLOGIN PASSWORD NULL`)).catch(() => undefined);
      await admin.query('SELECT pg_advisory_unlock($1)', [SQL_LOGIN_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    admin.release();
  }
}

/**
 * Whether every role can take advisory locks in this database: true where the migration
 * could not revoke them from PUBLIC (not run as a superuser), and then an analyst can
 * hold up webhooks.
 */
export async function publicCanTakeAdvisoryLocks(db: Kysely<any>): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_proc p
    WHERE p.proname ~ '^pg_(try_)?advisory' AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))`.execute(db);
  return (rows[0]?.n ?? 0) > 0;
}

/**
 * Ends reader sessions that ran a statement, or sat idle in a transaction, longer than
 * `timeoutMs` (plus a second's grace): the bound a role cannot lift with SET. Returns how
 * many it ended. Needs the right to signal those backends (superuser or pg_signal_backend).
 */
export async function endOverrunningReaderSessions(db: Kysely<any>, timeoutMs: number): Promise<number> {
  const bound = sql.lit(`${Math.floor(timeoutMs) + 1000} milliseconds`);
  const { rows } = await sql<{ ended: boolean }>`
    SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
    WHERE datname = current_database() AND usename IN (${sql.join([...READER_ROLES])})
      AND ((state = 'active' AND query_start < now() - ${bound}::interval)
        OR (state LIKE 'idle in transaction%' AND state_change < now() - ${bound}::interval))`.execute(db);
  return rows.filter((r) => r.ended).length;
}

async function currentDatabase(db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ name: string }>`SELECT current_database() AS name`.execute(db);
  return rows[0]!.name;
}
