/**
 * Service integrations: one configured instance of a replicator. Creation, lookup by
 * reference, API keys (shown once, stored as SHA-256: they are 24 random bytes, so a
 * plain hash is enough and stays lookup-able), reset, and deletion with dependents.
 */
import { createHash, randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Config } from '../config.ts';
import type { Database, ServiceIntegration } from '../db/schema.ts';
import { removeJob } from '../jobs/queue.ts';
import { backfillJobKey } from './backfill-queue.ts';
import { SwitchboardError } from './errors.ts';
import type { Registry } from './registry.ts';
import type { FieldSpec, Replicator } from './replicator.ts';

export type CredentialColumn = 'api_url' | 'backfill_key' | 'backfill_secret' | 'webhook_secret';

const base36 = (bytes: number) => BigInt(`0x${randomBytes(bytes).toString('hex')}`).toString(36);

export const newOpaqueId = () => `svi_${base36(16)}`;
export const newApiKey = (opaqueId: string) => `sk/${opaqueId}/${base36(24)}`;
export const hashApiKey = (key: string) => createHash('sha256').update(key).digest('hex');

/** The generic flags every service accepts, besides the replicator's own `fields`. */
export const GENERIC_FIELDS: readonly FieldSpec[] = [
  { flag: 'api-url', target: { column: 'api_url' }, description: 'provider API URL (meaning depends on the service)' },
  { flag: 'backfill-key', target: { column: 'backfill_key' }, description: 'backfill credential: key or id' },
  { flag: 'backfill-secret', target: { column: 'backfill_secret' }, description: 'backfill credential: secret', secret: true },
  { flag: 'webhook-secret', target: { column: 'webhook_secret' }, description: 'secret used to verify webhooks', secret: true },
];

export interface FieldValues {
  columns: Partial<Record<CredentialColumn, string>>;
  settings: Record<string, string>;
}

/** Map `--flag value` pairs onto integration columns and settings, validating each. */
export function parseFieldFlags(
  replicator: Replicator,
  flags: Record<string, string>,
  options: { requireAll: boolean; config: Config },
): FieldValues {
  const specs = [...(replicator.fields ?? []), ...GENERIC_FIELDS];
  const values: FieldValues = { columns: {}, settings: {} };
  for (const [flag, raw] of Object.entries(flags)) {
    const spec = specs.find((s) => s.flag === flag);
    if (!spec) {
      const known = specs.map((s) => `--${s.flag}`).join(', ');
      throw new SwitchboardError('SB_ERR_USAGE', `unknown option --${flag} for ${replicator.name}; it accepts ${known}`);
    }
    let value: string;
    try {
      value = spec.parse ? spec.parse(raw.trim(), { config: options.config, flags }) : raw.trim();
    } catch (error) {
      throw new SwitchboardError('SB_ERR_USAGE', `--${flag}: ${(error as Error).message}`);
    }
    if ('column' in spec.target) values.columns[spec.target.column] = value;
    else values.settings[spec.target.setting] = value;
  }
  if (options.requireAll) {
    const missing = (replicator.fields ?? []).filter((s) => s.required && flags[s.flag] === undefined);
    if (missing.length > 0) {
      const list = missing.map((s) => `--${s.flag} <${s.description}>`).join(' ');
      throw new SwitchboardError('SB_ERR_USAGE', `${replicator.name} needs ${list}`);
    }
  }
  return values;
}

export async function findIntegration(db: Kysely<Database>, ref: string): Promise<ServiceIntegration> {
  const query = db.selectFrom('service_integrations').selectAll();
  let matches: ServiceIntegration[];
  if (/^\d+$/.test(ref)) matches = await query.where('id', '=', Number(ref)).execute();
  else if (ref.startsWith('svi_')) matches = await query.where('opaque_id', '=', ref).execute();
  else matches = await query.where('service_name', '=', ref).orderBy('id').execute();
  const [first] = matches;
  if (!first) throw new SwitchboardError('SB_ERR_INTEGRATION_REF', `no integration matches "${ref}"; see \`switchboard integrations list\``);
  if (matches.length > 1) {
    const ids = matches.map((m) => `${m.id} (${m.opaque_id})`).join(', ');
    throw new SwitchboardError('SB_ERR_INTEGRATION_REF', `"${ref}" matches several integrations: ${ids}; use an id or opaque id`);
  }
  return first;
}

export function findByOpaqueId(db: Kysely<Database>, opaqueId: string): Promise<ServiceIntegration | undefined> {
  return db.selectFrom('service_integrations').selectAll().where('opaque_id', '=', opaqueId).executeTakeFirst();
}

export function findByApiKey(db: Kysely<Database>, apiKey: string): Promise<ServiceIntegration | undefined> {
  return db.selectFrom('service_integrations').selectAll().where('api_key_hash', '=', hashApiKey(apiKey)).executeTakeFirst();
}

/** The integration this one depends on, and a note when it was chosen for the user (the only candidate). */
async function resolveDependency(db: Kysely<Database>, replicator: Replicator, dependsOnRef: string | undefined): Promise<{ parent: ServiceIntegration | null; note?: string }> {
  if (!replicator.dependsOn) {
    if (dependsOnRef) throw new SwitchboardError('SB_ERR_USAGE', `${replicator.name} does not depend on another integration`);
    return { parent: null };
  }
  if (dependsOnRef) {
    const parent = await findIntegration(db, dependsOnRef);
    if (parent.service_name !== replicator.dependsOn) {
      throw new SwitchboardError('SB_ERR_USAGE', `--depends-on must be a ${replicator.dependsOn} integration, not ${parent.service_name}`);
    }
    return { parent };
  }
  const candidates = await db.selectFrom('service_integrations').selectAll().where('service_name', '=', replicator.dependsOn).execute();
  const only = candidates.length === 1 ? candidates[0]! : null;
  if (only) return { parent: only, note: `--depends-on ${only.id}: the only ${replicator.dependsOn} integration (${only.opaque_id})` };
  if (candidates.length === 0) {
    throw new SwitchboardError(
      'SB_ERR_USAGE',
      `${replicator.name} requires a ${replicator.dependsOn} integration: create one first with \`switchboard integrations create ${replicator.dependsOn}\``,
    );
  }
  throw new SwitchboardError('SB_ERR_USAGE', `several ${replicator.dependsOn} integrations exist: choose one with --depends-on <id>`);
}

export interface CreatedIntegration {
  integration: ServiceIntegration;
  /** Plain API key: only available here and from rollApiKey. */
  apiKey: string | null;
  /** Choices made for the user (an implicit --depends-on, a link to the only candidate), to print. */
  notes: string[];
  /** Credentials the replicator made for the user (linkSettings), to print once. */
  issued: Record<string, string>;
}

export async function createIntegration(
  db: Kysely<Database>,
  registry: Registry,
  config: Config,
  input: { service: string; dependsOn?: string; flags: Record<string, string> },
): Promise<CreatedIntegration> {
  const replicator = registry.get(input.service);
  const fields = parseFieldFlags(replicator, input.flags, { requireAll: true, config });
  return db.transaction().execute(async (trx) => {
    const { parent, note } = await resolveDependency(trx, replicator, input.dependsOn);
    const linked = replicator.linkSettings ? await replicator.linkSettings(trx, fields.settings, { creating: true }) : { settings: {}, notes: [] };
    const opaqueId = newOpaqueId();
    const apiKey = replicator.issuesApiKey ? newApiKey(opaqueId) : null;
    const integration = await trx
      .insertInto('service_integrations')
      .values({
        opaque_id: opaqueId,
        service_name: replicator.name,
        depends_on: parent?.id ?? null,
        ...fields.columns,
        api_key_hash: apiKey ? hashApiKey(apiKey) : null,
        settings: JSON.stringify({ ...fields.settings, ...linked.settings }),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { integration, apiKey, notes: [...(note ? [note] : []), ...linked.notes], issued: linked.issued ?? {} };
  });
}

const DEFAULT_RESET: readonly CredentialColumn[] = ['backfill_key', 'backfill_secret', 'webhook_secret'];

/**
 * Set the given fields and settings, leaving the others as they are; with `reset`, first
 * clear the replicator's credentials (`resetClears`), the error state and the incremental cursor.
 */
export async function updateIntegration(
  db: Kysely<Database>,
  registry: Registry,
  config: Config,
  integration: ServiceIntegration,
  flags: Record<string, string>,
  options: { reset?: boolean } = {},
): Promise<ServiceIntegration> {
  const replicator = registry.get(integration.service_name);
  const fields = parseFieldFlags(replicator, flags, { requireAll: false, config });
  if (replicator.linkSettings) Object.assign(fields.settings, (await replicator.linkSettings(db, fields.settings, { creating: false })).settings);
  const cleared = options.reset
    ? {
        ...Object.fromEntries((replicator.resetClears ?? DEFAULT_RESET).map((column) => [column, null])),
        last_backfilled_at: null,
        last_error_code: null,
        last_error_message: null,
        last_error_at: null,
      }
    : {};
  return db
    .updateTable('service_integrations')
    .set({ ...cleared, ...fields.columns, settings: sql<string>`settings || ${JSON.stringify(fields.settings)}::jsonb`, updated_at: sql<Date>`now()` })
    .where('id', '=', integration.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function rollApiKey(db: Kysely<Database>, integration: ServiceIntegration): Promise<string> {
  const apiKey = newApiKey(integration.opaque_id);
  await db
    .updateTable('service_integrations')
    .set({ api_key_hash: hashApiKey(apiKey), updated_at: sql<Date>`now()` })
    .where('id', '=', integration.id)
    .execute();
  return apiKey;
}

/** The integrations depending directly on this one, by id. */
export function findDependents(db: Kysely<Database>, integrationId: number): Promise<ServiceIntegration[]> {
  return db.selectFrom('service_integrations').selectAll().where('depends_on', '=', integrationId).orderBy('id').execute();
}

/** The integration and everything depending on it, dependents first (the order to delete in). */
export async function withDependents(db: Kysely<Database>, integration: ServiceIntegration): Promise<ServiceIntegration[]> {
  const children = await findDependents(db, integration.id);
  const nested = await Promise.all(children.map((child) => withDependents(db, child)));
  return [...nested.flat(), integration];
}

export interface DeletedIntegration {
  id: number;
  opaque_id: string;
  service: string;
  rows_deleted: number;
}

export async function deleteIntegration(
  db: Kysely<Database>,
  registry: Registry,
  integration: ServiceIntegration,
): Promise<DeletedIntegration[]> {
  return db.transaction().execute(async (trx) => {
    const deleted: DeletedIntegration[] = [];
    for (const target of await withDependents(trx, integration)) {
      let rows = 0;
      if (registry.has(target.service_name)) {
        const result = await sql`DELETE FROM ${sql.table(target.service_name)} WHERE integration_id = ${target.id}`.execute(trx);
        rows = Number(result.numAffectedRows ?? 0);
      }
      await removeJob(trx, backfillJobKey(target.id));
      await trx.deleteFrom('service_integrations').where('id', '=', target.id).execute();
      deleted.push({ id: target.id, opaque_id: target.opaque_id, service: target.service_name, rows_deleted: rows });
    }
    return deleted;
  });
}
