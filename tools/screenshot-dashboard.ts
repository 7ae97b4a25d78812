/**
 * Regenerates docs/dashboard.png for the README: starts the dashboard server (real engine, real
 * worker), opens it in headless Chromium, clicks "Run the demo comparison" and saves a full-page
 * screenshot of the comparison view.
 *
 *   node --import tsx tools/screenshot-dashboard.ts [--during] [--out docs/dashboard.png]
 *
 * Default: wait until all four policies have finished (lines separated, final table filled).
 * --during: shoot while the second policy is training instead. Chromium: /usr/bin/chromium or
 * BNLAB_CHROMIUM. Runs go to a temporary checkpoints folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, PROJECT_ROOT } from '../server/config.ts';
import { createServer } from '../server/web/app.ts';
import { ensureClientBuilt } from '../server/web/client-build.ts';
import { chromiumAvailable, CHROMIUM_PATH, launchChromium } from '../test/support/chromium.ts';

const args = process.argv.slice(2);
const during = args.includes('--during');
const outIndex = args.indexOf('--out');
const out = path.resolve(outIndex >= 0 ? args[outIndex + 1] : path.join(PROJECT_ROOT, 'docs', 'dashboard.png'));
const TIMEOUT_MS = 15 * 60_000;

async function main(): Promise<void> {
  if (!chromiumAvailable()) throw new Error(`no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set BNLAB_CHROMIUM)`);
  await ensureClientBuilt();
  const checkpointsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-screenshot-'));
  const server = createServer({ config: { ...loadConfig(), checkpointsDir }, queue: { echoWorkerOutput: true } });
  const { url } = await server.listen();
  const browser = await launchChromium({ width: 1400, height: 1000 });
  try {
    const page = await browser.context.newPage();
    await page.goto(url);
    await page.click('[data-action=run-demo]');
    await page.waitForSelector('[data-view=comparison]');
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      const ready = during
        ? await page.$$eval('.run-steps li', (items) => {
            const second = items[1]?.querySelector('[data-status]')?.getAttribute('data-status');
            const steps = items[1]?.textContent?.match(/step (\d+) \/ (\d+)/);
            return second === 'running' && !!steps && Number(steps[1]) >= Number(steps[2]) / 2;
          })
        : await page.$eval('[data-final-table]', (t) => (t as HTMLElement).dataset.complete === 'true');
      if (ready) break;
      if (Date.now() > deadline) throw new Error('the demo comparison did not get there in 15 minutes');
      await page.waitForTimeout(1000);
    }
    await page.waitForTimeout(800); // let the last animation frame draw
    // what the page says happened (policy-story.ts, from the measured numbers), for the record
    for (const story of await page.$$eval('[data-story]', (items) => items.map((li) => li.textContent?.trim() ?? ''))) console.log(`  ${story}`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await page.screenshot({ path: out, fullPage: true });
    console.log(`saved ${path.relative(process.cwd(), out)}`);
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(checkpointsDir, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  console.error(`screenshot-dashboard: ${error.message}`);
  process.exit(1);
});
