/**
 * Processes cache integrations for the webhook path (src/engine/integration-cache.ts): any
 * change to an integration's identity, credentials or settings, its creation or deletion,
 * notifies channel `switchboard_integrations` at commit, and every process drops its cache.
 * A pass's bookkeeping (last_backfilled_at, last_error_*, backfill_requested) changes
 * nothing webhooks read, and changes on every pass: it notifies nobody. A column added
 * later notifies by default.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION switchboard_integrations_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('switchboard_integrations', '');
      RETURN NULL;
    END $$
  `.execute(db);
  await sql`
    CREATE TRIGGER service_integrations_added_or_removed AFTER INSERT OR DELETE OR TRUNCATE ON service_integrations
    FOR EACH STATEMENT EXECUTE FUNCTION switchboard_integrations_changed()
  `.execute(db);
  await sql`
    CREATE TRIGGER service_integrations_configured AFTER UPDATE ON service_integrations FOR EACH ROW
    WHEN (to_jsonb(OLD) - ARRAY['last_backfilled_at', 'last_error_code', 'last_error_message', 'last_error_at', 'backfill_requested', 'updated_at']
          IS DISTINCT FROM to_jsonb(NEW) - ARRAY['last_backfilled_at', 'last_error_code', 'last_error_message', 'last_error_at', 'backfill_requested', 'updated_at'])
    EXECUTE FUNCTION switchboard_integrations_changed()
  `.execute(db);
}
