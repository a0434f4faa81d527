/**
 * The dashboard's front end: Preact pages under src/web/app, bundled by esbuild into
 * dist/web at install (`npm install` runs `prepare`) and served by our own server, so
 * nothing is fetched from a CDN at run time. A server that finds the bundle missing or
 * older than its sources builds it again at start (a checkout installed with
 * --ignore-scripts, or a developer editing the pages).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.ts';
import { ROOT } from '../root.ts';

const SOURCES = path.join(ROOT, 'src/web/app');
export const BUNDLE_DIR = path.join(ROOT, 'dist/web');

export interface DashboardAssets {
  js: Buffer;
  css: Buffer;
  /** Short content hash, appended to asset URLs so browsers never mix versions. */
  version: string;
}

/** Build into a scratch dir, then rename into place: processes starting together never read half a file. */
export async function buildDashboard(outDir = BUNDLE_DIR): Promise<void> {
  const esbuild = await import('esbuild');
  const scratch = `${outDir}.${process.pid}.tmp`;
  await esbuild.build({
    entryPoints: { main: path.join(SOURCES, 'main.tsx') },
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: scratch,
    logLevel: 'warning',
    legalComments: 'none',
  });
  await fs.mkdir(outDir, { recursive: true });
  for (const file of await fs.readdir(scratch)) await fs.rename(path.join(scratch, file), path.join(outDir, file));
  await fs.rm(scratch, { recursive: true, force: true });
}

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await fs.stat(path.join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

async function bundleIsFresh(): Promise<boolean> {
  try {
    const built = (await fs.stat(path.join(BUNDLE_DIR, 'main.js'))).mtimeMs;
    // Without sources (a trimmed deployment) the bundle is all there is.
    const sources = await newestSource(SOURCES).catch(() => 0);
    return built >= sources;
  } catch {
    return false;
  }
}

export async function loadDashboardAssets(log: Logger): Promise<DashboardAssets> {
  if (!(await bundleIsFresh())) {
    log.info('building the dashboard bundle');
    await buildDashboard();
  }
  const [js, css] = await Promise.all([fs.readFile(path.join(BUNDLE_DIR, 'main.js')), fs.readFile(path.join(BUNDLE_DIR, 'main.css')).catch(() => Buffer.alloc(0))]);
  const version = createHash('sha256').update(js).update(css).digest('hex').slice(0, 12);
  return { js, css, version };
}

export function indexHtml(assets: DashboardAssets): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Switchboard</title>
<link rel="stylesheet" href="/assets/main.css?v=${assets.version}">
<script type="module" src="/assets/main.js?v=${assets.version}"></script>
</head>
<body><div id="app"></div></body>
</html>
`;
}
