/**
 * The set of replicators a process knows, keyed by service name. Built once at start
 * from an explicit list (src/replicators/index.ts), never by scanning folders.
 */
import { SwitchboardError } from './errors.ts';
import type { Replicator } from './replicator.ts';

export class Registry {
  readonly #byName = new Map<string, Replicator>();
  /** Services some registered replicator depends on. */
  readonly #depended = new Set<string>();

  constructor(replicators: readonly Replicator[]) {
    for (const replicator of replicators) {
      if (this.#byName.has(replicator.name)) throw new Error(`replicator ${replicator.name} registered twice`);
      this.#byName.set(replicator.name, replicator);
    }
    for (const replicator of replicators) {
      if (replicator.dependsOn && !this.#byName.has(replicator.dependsOn)) {
        throw new Error(`replicator ${replicator.name} depends on unregistered ${replicator.dependsOn}`);
      }
      if (replicator.dependsOn) this.#depended.add(replicator.dependsOn);
    }
  }

  get(name: string): Replicator {
    const replicator = this.#byName.get(name);
    if (!replicator) {
      const known = [...this.#byName.keys()].join(', ') || '(none)';
      throw new SwitchboardError('SB_ERR_UNKNOWN_SERVICE', `unknown service "${name}"; known services: ${known}`);
    }
    return replicator;
  }

  /** Whether integrations of `name` can have dependents at all. */
  hasDependents(name: string): boolean {
    return this.#depended.has(name);
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  list(): Replicator[] {
    return [...this.#byName.values()];
  }
}
