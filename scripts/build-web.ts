/** `npm run build:web` (and `prepare`, so `npm install` does it): bundle the dashboard into dist/web. */
import { BUNDLE_DIR, buildDashboard } from '../src/web/assets.ts';

await buildDashboard();
console.log(`dashboard built into ${BUNDLE_DIR}`);
