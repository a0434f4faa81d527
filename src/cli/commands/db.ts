/**
 * `switchboard db readonly-url`: a login for analysts that can only read — for `psql`,
 * BI tools or notebooks. Creates the role on first use and gives it a new password each
 * time (printing the URL is the only way to learn it), so running it again rolls it.
 */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { sql, type Kysely } from 'kysely';
import { SwitchboardError } from '../../engine/errors.ts';
import { withRuntime, writeJson, writeLine, type CliContext } from '../context.ts';

export const ANALYST_ROLE = 'switchboard_analyst';

export function registerDb(program: Command, ctx: CliContext): void {
  const db = program.command('db').description('database access');
  db.command('readonly-url')
    .description('print a connection URL for a read-only analyst role (a new password each time)')
    .option('--json', 'print machine-readable JSON')
    .action(async (options: { json?: boolean }) => {
      await withRuntime(ctx, async (rt) => {
        const password = randomBytes(18).toString('base64url');
        const role = sql.id(ANALYST_ROLE);
        try {
          await rt.engine.db.transaction().execute(async (trx) => {
            const { rows } = await sql<{ exists: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${ANALYST_ROLE}) AS exists`.execute(trx);
            // Identifiers and the password cannot be bound parameters in DDL; the password is ours, base64url only.
            if (!rows[0]?.exists) await sql`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`.execute(trx);
            await sql`ALTER ROLE ${role} WITH LOGIN PASSWORD ${sql.lit(password)}`.execute(trx);
            await sql`ALTER ROLE ${role} SET default_transaction_read_only = on`.execute(trx);
            await sql`ALTER ROLE ${role} SET statement_timeout = ${sql.lit(`${rt.config.sqlTimeoutMs}ms`)}`.execute(trx);
            await sql`GRANT CONNECT ON DATABASE ${sql.id(await currentDatabase(trx))} TO ${role}`.execute(trx);
            await sql`GRANT USAGE ON SCHEMA public TO ${role}`.execute(trx);
            await sql`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`.execute(trx);
            await sql`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${role}`.execute(trx);
            // Integration credentials stay out of reach, except what identifies an integration.
            await sql`REVOKE SELECT ON service_integrations, idempotency_keys, media_files, admin_tokens FROM ${role}`.execute(trx);
            await sql`GRANT SELECT (id, opaque_id, service_name, depends_on, settings, last_backfilled_at, last_error_code, last_error_message, last_error_at, created_at, updated_at)
              ON service_integrations TO ${role}`.execute(trx);
          });
        } catch (error) {
          if ((error as { code?: string }).code === '42501') {
            throw new SwitchboardError('SB_ERR_USAGE', 'the database user cannot create roles: run this as a user with CREATEROLE, or create a read-only role yourself (docs/sql.md)');
          }
          throw error;
        }
        const url = new URL(rt.database.url);
        url.username = ANALYST_ROLE;
        url.password = password;
        if (options.json) return writeJson(ctx, { role: ANALYST_ROLE, url: url.toString() });
        writeLine(ctx, url.toString());
      });
    });
}

async function currentDatabase(db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ name: string }>`SELECT current_database() AS name`.execute(db);
  return rows[0]!.name;
}
