#!/usr/bin/env node
// Entry point for `npx switchboard`: runs the build of the sources beside it (dist/cli/,
// made at install), never TypeScript through a loader, which cost seconds of CPU a run.
// Sources changed since? It rebuilds, or says how to.
import { currentBuild } from './build.js';

let entry;
try {
  entry = await currentBuild({ onBuild: (dir) => process.stderr.write(`switchboard: the sources changed; building ${dir}\n`) });
} catch (error) {
  process.stderr.write(`error: ${error.message}\n`);
  process.exit(1);
}
const { main } = await import(entry);
process.exitCode = await main(process.argv);
