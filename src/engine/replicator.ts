/**
 * The replicator contract. A replicator is one module exporting one `defineReplicator`
 * value that declares its table, how payloads become rows, how webhooks are verified,
 * what it depends on and how it backfills. The engine does the rest: routes, upserts,
 * dependency notification, jobs and CLI are generic and keyed by `name`.
 * See docs/replicators.md for a walk-through.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import type { Database, ServiceIntegration } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import type { Engine } from './engine.ts';
import type { Registry } from './registry.ts';

export type ColumnType = 'text' | 'timestamptz' | 'integer' | 'bigint' | 'real' | 'boolean' | 'jsonb' | 'numeric';

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  /**
   * What an update does to this column. `replace` (default) writes the incoming value,
   * NULL included, as WebhookDB does; `coalesce` keeps the stored value when the
   * incoming one is NULL, for sources that send partial payloads.
   */
  onUpdate?: 'replace' | 'coalesce';
}

/** One row a replicator wants stored: its remote key, denormalised columns and raw payload. */
export interface RowInput {
  key: string;
  columns: Record<string, unknown>;
  data: unknown;
}

/** A row after the upsert. `changed` is true when the insert or the guarded update happened. */
export interface UpsertedRow extends RowInput {
  changed: boolean;
  inserted: boolean;
  /** The row's primary key; null when the update condition left the row as it was. */
  pk: number | null;
}

export interface WebhookRequest {
  method: string;
  /** The URL the sender signed: PUBLIC_URL plus the path and query. */
  url: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  rawBody: Buffer;
  contentType: string;
  /** JSON value for JSON bodies, a string record for form bodies. */
  body: unknown;
}

export type Verification = { ok: true } | { ok: false; reason: string };

export type SubscriptionCheck = { ok: true; body: string } | { ok: false; reason: string };

export interface WebhookResponse {
  status: number;
  contentType: string;
  body: string;
}

/** What the engine lends a replicator's hooks. Writes through `db` join the caller's transaction. */
export interface ReplicatorContext {
  db: Kysely<Database>;
  integration: ServiceIntegration;
  log: Logger;
  config: Config;
  /** Every replicator this process knows (e.g. to find the other integrations of a kind). */
  registry: Registry;
  /** Store rows for `integration` and notify its dependents, in the same transaction. */
  upsert(rows: RowInput[]): Promise<UpsertedRow[]>;
  /** Ask for a backfill pass of an integration; committed with the current transaction. */
  requestBackfill(integrationId: number, options?: { incremental?: boolean; recursive?: boolean }): Promise<void>;
}

export interface DependencyEvent {
  /** The integration whose rows were upserted (this integration's `depends_on`). */
  dependency: ServiceIntegration;
  /**
   * Every row of one upsert (a webhook, a group commit of several, a backfill page), in
   * upsert order: a key may appear again later in a group commit, as a newer version.
   */
  rows: UpsertedRow[];
}

/** A dependency hook that handles its rows one at a time, in order (for hooks with no set-based form). */
export function perRow(
  hook: (ctx: ReplicatorContext, event: { dependency: ServiceIntegration; row: UpsertedRow }) => Promise<void>,
): (ctx: ReplicatorContext, event: DependencyEvent) => Promise<void> {
  return async (ctx, { dependency, rows }) => {
    for (const row of rows) await hook(ctx, { dependency, row });
  };
}

export interface BackfillContext {
  /** For backfillers that write into other integrations (with their dependents and passes). */
  engine: Engine;
  integration: ServiceIntegration;
  incremental: boolean;
  /** When the last successful pass started; null on a full backfill. */
  lastBackfilledAt: Date | null;
  log: Logger;
  db: Kysely<Database>;
  config: Config;
  registry: Registry;
  signal: AbortSignal;
  /** Turn provider items into rows (via `toRows`) and upsert them; counts towards progress. */
  upsertItems(items: unknown[]): Promise<UpsertedRow[]>;
  /** Record progress for `status` and `backfill --wait`; `total` when the source knows it. */
  progress(processedDelta: number, total?: number): Promise<void>;
}

export interface Backfiller {
  name: string;
  run(ctx: BackfillContext): Promise<void>;
}

/** A CLI flag of `integrations create|reset` that fills an integration field or setting. */
export interface FieldSpec {
  flag: string;
  target: { column: 'api_url' | 'backfill_key' | 'backfill_secret' | 'webhook_secret' } | { setting: string };
  description: string;
  required?: boolean;
  secret?: boolean;
  /** Validate and normalise the typed value (seeing the other flags); throw an Error with a helpful message to refuse it. */
  parse?(value: string, context: { config: Config; flags: Record<string, string> }): string;
}

export interface Replicator {
  /** Service name: also the table name, registry key, job payload and CLI argument. */
  name: string;
  description: string;
  remoteKey: string;
  columns: readonly ColumnSpec[];
  /**
   * Columns the replicator's own code writes (e.g. delivery state), never from payloads:
   * not upserted, but checked at start-up with `columns`, so a missing migration fails there.
   */
  stateColumns?: readonly ColumnSpec[];
  /**
   * SQL deciding whether a stored row may change, over `existing` (the stored row) and
   * `excluded` (the incoming one), e.g. `existing.date_updated < excluded.date_updated`.
   */
  updateWhere: string;
  /**
   * `data` on update: replace it (default), merge the incoming keys over the stored ones,
   * or an SQL expression over `existing` and `excluded`.
   */
  dataOnUpdate?: 'replace' | 'merge' | { sql: string };
  /** SQL predicate over the table selecting rows still waiting for delivery. */
  pendingWhere?: string;
  /** SQL predicate selecting rows that gave up with a reason (shown by `status`). */
  failedWhere?: string;
  /** SQL expression over a failed row giving its reason, e.g. `delivery_error_code || ': ' || ...` (dashboard). */
  failedReason?: string;
  dependsOn?: string;
  fields?: readonly FieldSpec[];
  /** Columns `integrations reset` clears; default the three credentials. */
  resetClears?: readonly ('api_url' | 'backfill_key' | 'backfill_secret' | 'webhook_secret')[];
  /** Issue an API key at create time (shown once, stored hashed). */
  issuesApiKey?: boolean;
  /**
   * Zero, one or many rows from a webhook body or a backfill item. Throw InvalidPayloadError
   * for bad input. Needed by webhooks and by backfillers that call `upsertItems`.
   */
  toRows?(item: unknown, ctx: { integration: ServiceIntegration; config: Config; request?: WebhookRequest }): RowInput[];
  /** Present when the replicator accepts webhooks at /v1/service_integrations/:opaque_id. */
  verifyWebhook?(request: WebhookRequest, integration: ServiceIntegration): Verification | Promise<Verification>;
  /**
   * Present when the provider proves the webhook URL with a GET handshake before sending
   * (Meta's `hub.challenge`): `ok` answers 200 text/plain with `body`, else 403. Stores nothing.
   */
  verifySubscription?(query: Record<string, string>, integration: ServiceIntegration): SubscriptionCheck;
  /** The synchronous answer to an accepted webhook; defaults to 202 {"o":"k"}. */
  webhookResponse?(rows: UpsertedRow[], request: WebhookRequest): WebhookResponse;
  /**
   * Request a pass of this integration whenever a webhook (or a dependency upsert) changes
   * one of its rows: always (`true`), or when this says so, given the integration as of the
   * commit and the rows that changed (e.g. only while a WhatsApp number has a flow).
   */
  backfillOnChange?: boolean | ((integration: ServiceIntegration, changed: UpsertedRow[]) => boolean);
  /**
   * Called once per upsert into the `dependsOn` integration with all its rows, changed or
   * not, so the hook can do set-based SQL (one lookup, one multi-row upsert per batch).
   */
  onDependencyUpsert?(ctx: ReplicatorContext, event: DependencyEvent): Promise<void>;
  backfillers?(integration: ServiceIntegration): Backfiller[];
  /** Poll this integration with a periodic incremental backfill (SWITCHBOARD_POLL_CRON). */
  polls?: boolean;
  /** Where the provider should send webhooks; defaults to the generic route. */
  webhookUrl?(integration: ServiceIntegration, publicUrl: string): string;
  /** Extra routes (e.g. a provider's install endpoints), registered as an encapsulated Fastify plugin. */
  routes?: FastifyPluginAsync<{ engine: Engine }>;
  /** What to do when this integration's provider rejects it or cannot be reached: `doctor`'s fix, also on the dashboard. */
  providerFix?(integration: ServiceIntegration): string;
  /** `switchboard doctor`: check this integration (credentials against the provider, setup). */
  doctor?(integration: ServiceIntegration, ctx: { db: Kysely<Database>; config: Config }): Promise<Finding[]>;
  /**
   * Whether the integration is set up enough to work, without network calls (dashboard).
   * Default: every required field is filled.
   */
  setupState?(integration: ServiceIntegration, config: Config): SetupState;
  /**
   * Check settings that name other integrations, at `create` (`creating`) and `update`:
   * throw SB_ERR_USAGE naming the choices; return settings to store with them and notes to
   * print (e.g. a link made because there was only one choice), and `issued`: credentials
   * made for the user at `create`, printed once and never stored as printed.
   */
  linkSettings?(
    db: Kysely<Database>,
    settings: Record<string, string>,
    context: { creating: boolean },
  ): Promise<{ settings: Record<string, string>; notes: string[]; issued?: Record<string, string> }>;
  /** What `status` (and the dashboard) show of this integration besides the convergence gap (e.g. a provider budget's use). */
  statusDetails?(integration: ServiceIntegration, db: Kysely<Database>): Promise<Record<string, unknown>>;
  /** Facts about an integration its users need besides the generic ones (e.g. an API's base URL), shown by `create` and `info`. */
  describe?(integration: ServiceIntegration, publicUrl: string): Record<string, string>;
  /** Human setup steps shown by `integrations create` and `info`. */
  setupInstructions?(integration: ServiceIntegration, publicUrl: string): string;
}

export interface SetupState {
  ready: boolean;
  /** A one-word state when not ready for a reason other than missing setup (e.g. `unauthenticated`). */
  state?: string;
  /** What is missing and how to fix it, or what it is connected to. */
  detail: string;
}

/** One `switchboard doctor` result: what was checked, how it stands, and what to do about it. */
export interface Finding {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;

/** Declare a replicator; checks at load time what the type system cannot. */
export function defineReplicator(replicator: Replicator): Replicator {
  const names = [replicator.name, replicator.remoteKey, ...[...replicator.columns, ...(replicator.stateColumns ?? [])].map((c) => c.name)];
  for (const name of names) {
    if (!IDENTIFIER.test(name)) throw new Error(`replicator ${replicator.name}: invalid SQL identifier "${name}"`);
  }
  if (new Set(names.slice(1)).size !== names.length - 1) throw new Error(`replicator ${replicator.name}: duplicate column`);
  if (!replicator.verifyWebhook && !replicator.backfillers && !replicator.onDependencyUpsert && !replicator.routes) {
    throw new Error(`replicator ${replicator.name}: has no way in (webhooks, backfill, dependency upserts or routes)`);
  }
  if (replicator.verifyWebhook && !replicator.toRows) throw new Error(`replicator ${replicator.name}: takes webhooks but has no toRows`);
  if (replicator.dependsOn && !replicator.onDependencyUpsert) {
    throw new Error(`replicator ${replicator.name}: depends on ${replicator.dependsOn} but has no onDependencyUpsert`);
  }
  return Object.freeze(replicator);
}

export function webhookUrlFor(replicator: Replicator, integration: ServiceIntegration, publicUrl: string): string | null {
  if (replicator.webhookUrl) return replicator.webhookUrl(integration, publicUrl);
  return replicator.verifyWebhook ? `${publicUrl}/v1/service_integrations/${integration.opaque_id}` : null;
}
