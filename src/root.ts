/**
 * Where things are on disk. Found rather than counted in `../`s, because this module runs
 * from src/ (tsx, vitest) and from a bundle in dist/cli/<fingerprint>/ (the CLI, see
 * bin/build.js), whose migrations are built beside it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function nearestPackage(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (dir === path.dirname(dir)) throw new Error(`no package.json above ${from}`);
  }
}

/** The install: package.json, dist/, migrations/. */
export const ROOT = nearestPackage(HERE);

/** The migrations this code runs: the TypeScript files beside the sources, or the build's own. */
export const MIGRATIONS_DIR = import.meta.url.endsWith('.ts') ? path.join(ROOT, 'migrations') : path.join(HERE, 'migrations');
