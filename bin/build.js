/**
 * The CLI's build: src/ and migrations/ bundled by esbuild into dist/cli/<fingerprint>/,
 * the fingerprint being a hash of the sources, so the bin can only ever load the build of
 * the sources beside it. `npm install` builds (`prepare`); `node bin/build.js` builds now.
 * Plain JavaScript, because it runs before there is a build and without tsx.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(import.meta.dirname, '..');
/** What the build is made of: a change to any of these is a different build. */
const SOURCE_DIRS = ['src', 'migrations'];
const SOURCE_FILES = ['package.json', 'tsconfig.json', 'bin/build.js'];
/**
 * Pure-JavaScript dependencies bundled into the build: one file loads in a fraction of the
 * time of their hundreds of modules. The others stay in node_modules: they load native
 * code, read their own files (graphile-worker's SQL, embedded Postgres's binaries, pino's
 * transports) or only load in long-running commands.
 */
const BUNDLED = new Set(['commander', 'kysely', 'zod', 'libphonenumber-js', 'jose', 'yaml', 'cli-progress', 'undici', 'prom-client']);
/** A build another process may still be loading chunks from is kept this long after it is replaced. */
const KEEP_REPLACED_MS = 24 * 3600_000;

/** @param {string} root */
export const buildsDir = (root = ROOT) => path.join(root, 'dist/cli');

/** Hash of every source file's path and content (contents, not mtimes: a checkout or copy changes those alone). */
export function fingerprint(root = ROOT) {
  const files = SOURCE_DIRS.flatMap((dir) =>
    fs
      .readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name))),
  );
  const hash = createHash('sha256');
  for (const file of [...files.sort(), ...SOURCE_FILES]) hash.update(`${file}\0`).update(fs.readFileSync(path.join(root, file))).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/**
 * Bundles the CLI (with code splitting, so a command loads only its own chunks) and each
 * migration into a scratch directory renamed into place: processes that start together and
 * both build never load half a build; the loser of the rename uses the winner's.
 * @param {string} root
 * @param {string} id the sources' fingerprint
 */
export async function build(root, id) {
  const esbuild = await import('esbuild');
  const migrations = fs.readdirSync(path.join(root, 'migrations')).filter((f) => f.endsWith('.ts'));
  const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const external = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies })
    .filter((name) => !BUNDLED.has(name))
    .flatMap((name) => [name, `${name}/*`]);
  const target = path.join(buildsDir(root), id);
  const scratch = `${target}.${process.pid}.tmp`;
  const { metafile } = await esbuild.build({
    absWorkingDir: root,
    entryPoints: {
      main: 'src/cli/main.ts',
      ...Object.fromEntries(migrations.map((f) => [`migrations/${f.slice(0, -3)}`, `migrations/${f}`])),
    },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external,
    // Bundled CommonJS modules call require(); ESM output has none of its own.
    banner: { js: "import { createRequire as __sbRequire } from 'node:module'; const require = __sbRequire(import.meta.url);" },
    sourcemap: 'linked',
    metafile: true,
    outdir: scratch,
    logLevel: 'warning',
  });
  // Which sources each file of the build holds: how a test sees what a command loaded.
  const holds = Object.entries(metafile.outputs).map(([file, output]) => [path.relative(scratch, path.resolve(root, file)), Object.keys(output.inputs)]);
  fs.writeFileSync(path.join(scratch, 'sources.json'), JSON.stringify(Object.fromEntries(holds)));
  try {
    fs.renameSync(scratch, target);
  } catch (error) {
    fs.rmSync(scratch, { recursive: true, force: true });
    if (!fs.existsSync(path.join(target, 'main.js'))) throw error;
  }
  for (const entry of fs.readdirSync(buildsDir(root))) {
    const other = path.join(buildsDir(root), entry);
    // Another process may be pruning the same directory: one gone already is no error.
    const stat = fs.statSync(other, { throwIfNoEntry: false });
    if (entry !== id && stat && Date.now() - stat.mtimeMs > KEEP_REPLACED_MS) fs.rmSync(other, { recursive: true, force: true });
  }
  return target;
}

/**
 * The URL of the build's entry for the sources as they are now, building it first when it
 * is missing; without esbuild (or write access to dist/) that fails with the fix.
 * @param {{ root?: string, onBuild?: (dir: string) => void }} options
 */
export async function currentBuild({ root = ROOT, onBuild = () => {} } = {}) {
  const id = fingerprint(root);
  const main = path.join(buildsDir(root), id, 'main.js');
  if (!fs.existsSync(main)) {
    onBuild(path.relative(root, path.join(buildsDir(root), id)));
    await build(root, id).catch((error) => {
      throw new Error(`no CLI build matches the sources (they changed since it was built, or it never was), and building one failed (${error.message.split('\n')[0]}). Fix: run \`npm run build\` (or \`npm install\`) in ${root} as the user who installed it.`, { cause: error });
    });
  }
  return pathToFileURL(main).href;
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const entry = await currentBuild();
  console.log(`CLI built into ${path.relative(ROOT, path.dirname(new URL(entry).pathname))}`);
}
