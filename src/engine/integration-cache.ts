/**
 * The webhook path's integration lookups, cached per process: an integration by opaque id
 * (every webhook) or by API key (every Front channel request), and an integration's
 * dependents (every commit). Postgres notifies channel
 * `switchboard_integrations` when an integration is created, deleted or reconfigured
 * (migration 2026-11-30T1201); the cache listens on a connection of its own and drops
 * everything on a notice, so a change made by any process reaches this one as it commits
 * (the notice's trip, a millisecond or so).
 *
 * Nothing is served from the cache unless that connection is listening: until it is up,
 * and from the moment it is lost until it is back (tried again on a later lookup), every
 * lookup reads the database as before. A lookup that raced a notice is not kept. Unknown
 * ids and keys are not cached, so strangers cannot grow it; keys are held by their hash.
 */
import type { Kysely } from 'kysely';
import pg from 'pg';
import { pgTypes } from '../db/connect.ts';
import type { Database, ServiceIntegration } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import type { Engine } from './engine.ts';
import { findByApiKey, findByOpaqueId, findDependents, hashApiKey } from './integrations.ts';

export const INTEGRATIONS_CHANNEL = 'switchboard_integrations';
/** After losing the listening connection, lookups read the database this long before one tries to listen again. */
const RELISTEN_MS = 5000;

export class IntegrationCache {
  readonly #url: string;
  readonly #log: Logger;
  #client: pg.Client | null = null;
  #listening = false;
  #closed = false;
  #relistenAfter = 0;
  /** Bumped by every notice: a lookup that started before one is not kept. */
  #generation = 0;
  readonly #byOpaqueId = new Map<string, ServiceIntegration>();
  readonly #byApiKeyHash = new Map<string, ServiceIntegration>();
  readonly #dependents = new Map<number, ServiceIntegration[]>();

  constructor(url: string, log: Logger) {
    this.#url = url;
    this.#log = log.child({ component: 'integration-cache' });
  }

  byOpaqueId(db: Kysely<Database>, opaqueId: string): Promise<ServiceIntegration | undefined> {
    return this.#cached(this.#byOpaqueId, opaqueId, () => findByOpaqueId(db, opaqueId));
  }

  byApiKey(db: Kysely<Database>, apiKey: string): Promise<ServiceIntegration | undefined> {
    return this.#cached(this.#byApiKeyHash, hashApiKey(apiKey), () => findByApiKey(db, apiKey));
  }

  async dependents(db: Kysely<Database>, integrationId: number): Promise<ServiceIntegration[]> {
    return (await this.#cached(this.#dependents, integrationId, () => findDependents(db, integrationId))) ?? [];
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#forget(client);
    await client?.end().catch(() => {});
  }

  async #cached<K, V>(map: Map<K, V>, key: K, read: () => Promise<V | undefined>): Promise<V | undefined> {
    this.#listen();
    const hit = this.#listening ? map.get(key) : undefined;
    if (hit !== undefined) return hit;
    const generation = this.#generation;
    const value = await read();
    if (value !== undefined && this.#listening && generation === this.#generation) map.set(key, value);
    return value;
  }

  #drop(): void {
    this.#generation++;
    this.#byOpaqueId.clear();
    this.#byApiKeyHash.clear();
    this.#dependents.clear();
  }

  #listen(): void {
    if (this.#client || this.#closed || Date.now() < this.#relistenAfter) return;
    const client = new pg.Client({ connectionString: this.#url, types: pgTypes, application_name: 'switchboard-cache' });
    this.#client = client;
    client.on('notification', () => this.#drop());
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, null));
    client
      .connect()
      .then(() => client.query(`LISTEN ${INTEGRATIONS_CHANNEL}`))
      .then(() => {
        if (this.#client !== client) return;
        // Whatever was read before we listened may have missed a notice.
        this.#drop();
        this.#listening = true;
      })
      .catch((error: Error) => this.#lost(client, error));
  }

  #lost(client: pg.Client, error: Error | null): void {
    if (this.#client !== client) return;
    this.#forget(client);
    if (this.#closed) return;
    this.#log.warn({ err: error?.message ?? 'connection ended' }, 'integration cache not listening: lookups read the database');
    this.#relistenAfter = Date.now() + RELISTEN_MS;
    client.end().catch(() => {});
  }

  #forget(client: pg.Client | null): void {
    if (this.#client !== client) return;
    this.#client = null;
    this.#listening = false;
    this.#drop();
  }
}

/** The integration an opaque id names: from the process's cache when it has one. */
export function integrationByOpaqueId(engine: Engine, opaqueId: string): Promise<ServiceIntegration | undefined> {
  return engine.integrations ? engine.integrations.byOpaqueId(engine.db, opaqueId) : findByOpaqueId(engine.db, opaqueId);
}

/** The integration an API key belongs to: from the process's cache when it has one. */
export function integrationByApiKey(engine: Engine, apiKey: string): Promise<ServiceIntegration | undefined> {
  return engine.integrations ? engine.integrations.byApiKey(engine.db, apiKey) : findByApiKey(engine.db, apiKey);
}

/** An integration's dependents: from the process's cache when it has one, else read through `db` (the caller's transaction: no second connection). */
export function dependentsOf(engine: Engine, db: Kysely<Database>, integrationId: number): Promise<ServiceIntegration[]> {
  return engine.integrations ? engine.integrations.dependents(db, integrationId) : findDependents(db, integrationId);
}
