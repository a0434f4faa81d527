/**
 * Brings a database to the latest schema: our kysely migrations in migrations/, then
 * graphile-worker's own schema. A session advisory lock around both makes concurrent
 * migrators safe: kysely 0.28 locks only inside its transaction, after creating its
 * bookkeeping tables, which two fresh migrators can race on.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider, type MigrationResult } from 'kysely';
import type pg from 'pg';
import { migrateQueue } from '../jobs/queue.ts';
import type { Logger } from '../log.ts';
import { MIGRATIONS_DIR } from '../root.ts';

const migrationFiles = async () => (await fs.readdir(MIGRATIONS_DIR)).filter((f) => /\.(ts|js|mjs)$/.test(f) && !f.endsWith('.d.ts'));

/** How many of our migrations the database has applied, of how many there are, without changing anything. */
export async function migrationState(db: Kysely<any>): Promise<{ applied: number; total: number }> {
  const total = (await migrationFiles()).length;
  const { rows } = await sql<{ present: boolean }>`SELECT to_regclass('kysely_migration') IS NOT NULL AS present`.execute(db);
  if (!rows[0]?.present) return { applied: 0, total };
  const { rows: counted } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM kysely_migration`.execute(db);
  return { applied: counted[0]?.n ?? 0, total };
}

/**
 * kysely's FileMigrationProvider, but importing from this module, so the import goes
 * through whichever TypeScript loader runs us (tsx for the CLI, vite for tests).
 */
class DirectoryMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    const files = await migrationFiles();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      const module = (await import(pathToFileURL(path.join(MIGRATIONS_DIR, file)).href)) as Migration;
      migrations[file.replace(/\.(ts|js|mjs)$/, '')] = module;
    }
    return migrations;
  }
}

/** Arbitrary constant identifying "schema migration" among advisory locks. */
const MIGRATION_LOCK_KEY = 0x5b_0001;

export interface MigrateResult {
  applied: string[];
}

export async function migrateToLatest(db: Kysely<any>, pool: pg.Pool, log: Logger): Promise<MigrateResult> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const migrator = new Migrator({
        db,
        provider: new DirectoryMigrationProvider(),
      });
      const { error, results } = await migrator.migrateToLatest();
      const applied = (results ?? []).filter((r: MigrationResult) => r.status === 'Success').map((r) => r.migrationName);
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName;
        throw new Error(`migration ${failed ?? '(unknown)'} failed: ${(error as Error).message ?? String(error)}`, { cause: error });
      }
      await migrateQueue(pool, log);
      for (const name of applied) log.info({ migration: name }, 'migration applied');
      return { applied };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    client.release();
  }
}
