/**
 * Front's `message_imported` notice (sent to the channel's webhook once Front has processed
 * an import): the evidence that an import whose answer we never heard did happen. Front's
 * message object carries our `metadata.external_id` back on channel requests, so we record
 * Front's message id on the row that imported under that id and is still waiting; its
 * next pass adopts it instead of importing again (deliver.ts). Notices for imports whose
 * answer did arrive match nothing and change nothing.
 */
import { sql } from 'kysely';
import type { ServiceIntegration } from '../../db/schema.ts';
import { requestBackfill } from '../../engine/backfill-queue.ts';
import type { Engine } from '../../engine/engine.ts';

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

export async function recordImported(engine: Engine, integration: ServiceIntegration, body: { payload?: unknown }): Promise<void> {
  const payload = (typeof body.payload === 'object' && body.payload !== null ? body.payload : {}) as { id?: unknown; metadata?: { external_id?: unknown } | null };
  const messageId = text(payload.id);
  const externalId = text(payload.metadata?.external_id);
  // Nothing to match it to: Front's answer is still `{}`.
  if (!messageId || !externalId) return;
  // Most notices match nothing (the import's answer came): one statement, no transaction.
  const result = await sql`
    UPDATE ${sql.table(integration.service_name)}
    SET front_imported_id = ${messageId}, next_attempt_at = NULL, row_updated_at = now()
    WHERE integration_id = ${integration.id} AND import_external_id = ${externalId}
      AND front_message_id IS NULL AND front_imported_id IS NULL AND delivery_status = 'pending'`.execute(engine.db);
  // A row held for this notice can be settled now rather than at the end of its hold. Its
  // pass at the hold's end is queued already, so a crash before this request loses nothing.
  if (Number(result.numAffectedRows ?? 0) > 0) {
    await engine.db.transaction().execute((trx) => requestBackfill(trx, integration.id, { trigger: 'message_imported' }));
  }
}
