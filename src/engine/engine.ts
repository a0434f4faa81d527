/**
 * The engine: what its pieces (ingest, passes, routes, jobs, CLI) share within a process.
 * Its own module so that code needing only the handle does not import the ingest path.
 */
import type { Kysely } from 'kysely';
import type { Config } from '../config.ts';
import type { Database } from '../db/schema.ts';
import type { Logger } from '../log.ts';
import type { IntegrationCache } from './integration-cache.ts';
import type { Registry } from './registry.ts';

/** What the engine's pieces share within a process. */
export interface Engine {
  db: Kysely<Database>;
  registry: Registry;
  log: Logger;
  config: Config;
  /** The webhook path's integration lookups, cached (servers); without it they read the database. */
  integrations?: IntegrationCache;
}
