/**
 * Advisory locks are for Switchboard alone: a read-only role holding the backfill barrier
 * lock could stop every webhook. EXECUTE on the advisory lock functions moves from PUBLIC
 * to the role that runs the migrations (the application's). Only a superuser can change
 * these built-in functions; for anyone else Postgres skips it with a warning, and
 * `switchboard doctor` and `db readonly-url` say that other roles can still take them.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    DO $$
    DECLARE f regprocedure;
    BEGIN
      IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE NOTICE 'advisory lock functions stay open to PUBLIC: only a superuser can revoke them';
        RETURN;
      END IF;
      FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE proname ~ '^pg_(try_)?advisory' LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, current_user);
      END LOOP;
    END $$
  `.execute(db);
}
