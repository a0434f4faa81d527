/**
 * Real Chromium for the dashboard tests, driven by playwright-core: Debian's `chromium`
 * (CHROMIUM_PATH to use another). Without it the browser tests are skipped with a notice,
 * unless SWITCHBOARD_REQUIRE_BROWSER=1 (set by .ci/run, which installs it) makes that a
 * failure. Screenshots are compared with committed baselines, values that change every
 * run masked; UPDATE_SCREENSHOTS=1 rewrites the baselines.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pixelmatch from 'pixelmatch';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PNG } from 'pngjs';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const browserAvailable = existsSync(CHROMIUM_PATH);
if (!browserAvailable && process.env.SWITCHBOARD_REQUIRE_BROWSER === '1') {
  throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install Debian's chromium package (apt-get install chromium) or set CHROMIUM_PATH`);
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    // Root in a container needs --no-sandbox; the rest keeps Chromium off this closed network.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

const BASELINES = path.resolve('test/web/screenshots');
const RESULTS = path.resolve('test-results/screenshots');
/**
 * Share of pixels allowed to differ: antialiasing and text shifting beside a masked value
 * (seen: up to 0.15%); narrowing the page by 200 px fails every page.
 */
export const SCREENSHOT_TOLERANCE = 0.005;

/**
 * Compare a full-page screenshot with its baseline (rewritten with UPDATE_SCREENSHOTS=1). Returns the share of differing pixels; on failure the actual
 * image and the diff are left in test-results/screenshots.
 */
export async function matchScreenshot(page: Page, name: string): Promise<number> {
  const actualBytes = await page.screenshot({ fullPage: true, animations: 'disabled', caret: 'hide', mask: [page.locator('[data-dynamic]')], maskColor: '#c8c8c8' });
  const baselinePath = path.join(BASELINES, `${name}.png`);
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    await fs.mkdir(BASELINES, { recursive: true });
    await fs.writeFile(baselinePath, actualBytes);
    return 0;
  }
  if (!existsSync(baselinePath)) throw new Error(`no baseline ${baselinePath}: run the test with UPDATE_SCREENSHOTS=1 and commit the picture`);
  const actual = PNG.sync.read(actualBytes);
  const baseline = PNG.sync.read(await fs.readFile(baselinePath));
  const width = Math.max(actual.width, baseline.width);
  const height = Math.max(actual.height, baseline.height);
  const [a, b] = [actual, baseline].map((image) => {
    const padded = new PNG({ width, height });
    PNG.bitblt(image, padded, 0, 0, image.width, image.height, 0, 0);
    return padded;
  });
  const diff = new PNG({ width, height });
  const differing = pixelmatch(a!.data, b!.data, diff.data, width, height, { threshold: 0.2 });
  const ratio = differing / (width * height);
  if (ratio > SCREENSHOT_TOLERANCE) {
    await fs.mkdir(RESULTS, { recursive: true });
    await fs.writeFile(path.join(RESULTS, `${name}.actual.png`), actualBytes);
    await fs.writeFile(path.join(RESULTS, `${name}.diff.png`), PNG.sync.write(diff));
  }
  return ratio;
}
