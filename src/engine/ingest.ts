/**
 * Rows in: upsert them for an integration, then tell the integrations that depend on
 * it, all in one transaction, so a webhook answered 2xx has its rows, its dependents'
 * rows and any backfill they requested committed together. Dependents are told about
 * every row, changed or not (WebhookDB's contract), all of a transaction's rows in one call
 * so they can work set-based: they decide what matters.
 */
import type { Kysely } from 'kysely';
import type { Database, ServiceIntegration } from '../db/schema.ts';
import { requestBackfill } from './backfill-queue.ts';
import type { Engine } from './engine.ts';
import { dependentsOf } from './integration-cache.ts';
import type { Replicator, ReplicatorContext, RowInput, UpsertedRow } from './replicator.ts';
import { upsertRows } from './upsert.ts';

/** Where rows come from: a pass of the integration's own backfill never re-triggers itself. */
export type IngestOrigin = 'webhook' | 'dependency' | 'backfill';

export async function ingestRows(
  engine: Engine,
  integration: ServiceIntegration,
  rows: RowInput[],
  options: { origin: IngestOrigin; db?: Kysely<Database> },
): Promise<UpsertedRow[]> {
  if (rows.length === 0) return [];
  const [upserted] = await ingestRounds(engine, integration, [rows], options);
  return upserted!;
}

/**
 * Several upserts of one integration in one transaction (group commit, group-commit.ts):
 * one upsert statement per round, in order, then the dependents lookup and at most one
 * backfill request for all of them. Returns each round's rows.
 */
export async function ingestRounds(
  engine: Engine,
  integration: ServiceIntegration,
  rounds: RowInput[][],
  options: { origin: IngestOrigin; db?: Kysely<Database> },
): Promise<UpsertedRow[][]> {
  const work = async (db: Kysely<Database>) => {
    const replicator = engine.registry.get(integration.service_name);
    const upserted: UpsertedRow[][] = [];
    for (const rows of rounds) upserted.push(await upsertRows(db, replicator, integration.id, rows));
    const all = upserted.flat();
    await notifyDependents(engine, db, integration, all);
    const changed = all.filter((r) => r.changed);
    if (options.origin !== 'backfill' && changed.length > 0 && passOnChange(replicator, integration, changed)) {
      await requestBackfill(db, integration.id, { incremental: true, trigger: options.origin });
    }
    return upserted;
  };
  return options.db ? work(options.db) : engine.db.transaction().execute(work);
}

/** Whether changed rows ask for a pass: `backfillOnChange` as a flag, or as the replicator decides for this integration. */
function passOnChange(replicator: Replicator, integration: ServiceIntegration, changed: UpsertedRow[]): boolean {
  const { backfillOnChange } = replicator;
  return typeof backfillOnChange === 'function' ? backfillOnChange(integration, changed) : backfillOnChange === true;
}

async function notifyDependents(
  engine: Engine,
  db: Kysely<Database>,
  integration: ServiceIntegration,
  rows: UpsertedRow[],
): Promise<void> {
  // Most tables have no dependents at all: skip the lookup when no known replicator can be one.
  if (!engine.registry.hasDependents(integration.service_name)) return;
  const dependents = await dependentsOf(engine, db, integration.id);
  for (const dependent of dependents) {
    if (!engine.registry.has(dependent.service_name)) {
      engine.log.warn({ integration_id: dependent.id, service: dependent.service_name }, 'dependent of unknown service skipped');
      continue;
    }
    const replicator = engine.registry.get(dependent.service_name);
    if (!replicator.onDependencyUpsert) continue;
    await replicator.onDependencyUpsert(replicatorContext(engine, db, dependent), { dependency: integration, rows });
  }
}

export function replicatorContext(engine: Engine, db: Kysely<Database>, integration: ServiceIntegration): ReplicatorContext {
  return {
    db,
    integration,
    log: engine.log.child({ integration_id: integration.id, service: integration.service_name }),
    config: engine.config,
    registry: engine.registry,
    upsert: (rows) => ingestRows(engine, integration, rows, { origin: 'dependency', db }),
    requestBackfill: (integrationId, options) =>
      requestBackfill(db, integrationId, { ...options, trigger: 'dependency' }),
  };
}
