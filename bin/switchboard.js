#!/usr/bin/env node
// Entry point for `npx switchboard`. The sources are TypeScript and run through
// tsx's loader, so a checkout works right after `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
