/**
 * Front imports whose answer never came (issue 13): each channel table records when an
 * import was started and under which external id, and the Front message id that Front's
 * `message_imported` notice reports for it. A row whose import outcome is unknown waits
 * for that notice (or a deadline) instead of being imported again.
 */
import { sql, type Kysely } from 'kysely';

const CHANNEL_TABLES = [
  ['front_signalwire_message_channel_app_v1', 'fsmca_v1'],
  ['front_ussd_channel_app_v1', 'fuca_v1'],
] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const [table, prefix] of CHANNEL_TABLES) {
    await sql`
      ALTER TABLE ${sql.table(table)}
        ADD COLUMN import_started_at timestamptz,
        ADD COLUMN import_external_id text,
        ADD COLUMN front_imported_id text`.execute(db);
    // The notice names only our external id: find the row still waiting for it without a scan.
    await sql`
      CREATE INDEX ${sql.id(`${prefix}_import_external_id_idx`)} ON ${sql.table(table)} (integration_id, import_external_id)
      WHERE import_external_id IS NOT NULL AND front_message_id IS NULL`.execute(db);
  }
}
