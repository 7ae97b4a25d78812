/**
 * End to end in a real browser: open the dashboard, click the demo comparison, and see the charts
 * grow while the real engine trains (in the real worker process), then the final table. Saves a
 * screenshot to test-output/dashboard-e2e.png.
 *
 * Needs Chromium (Debian `chromium`, or BNLAB_CHROMIUM=<path>). Without it the test is skipped with
 * a loud warning, except in CI (process.env.CI set), where a missing browser is a failure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, PROJECT_ROOT } from '../server/config.ts';
import { createServer, type BnlabServer } from '../server/web/app.ts';
import { ensureClientBuilt } from '../server/web/client-build.ts';
import { chromiumAvailable, CHROMIUM_PATH, launchChromium } from './support/chromium.ts';

const OUTPUT_DIR = path.join(PROJECT_ROOT, 'test-output');
const haveChromium = chromiumAvailable();

if (!haveChromium && !process.env.CI) {
  console.warn(
    `\n${'!'.repeat(78)}\n!! test/browser.test.ts SKIPPED: no Chromium at ${CHROMIUM_PATH}.\n` +
      '!! Install it (apt-get install chromium) or set BNLAB_CHROMIUM; in CI this is a failure.\n' +
      `${'!'.repeat(78)}\n`,
  );
}

describe('dashboard in a real browser', () => {
  it.runIf(!haveChromium && process.env.CI)('has a Chromium to test with (CI)', () => {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: CI must install the Debian chromium package`);
  });

  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it.runIf(haveChromium)('runs the demo comparison from one click: charts grow live, the final table appears', { timeout: 600_000 }, async () => {
    await ensureClientBuilt();
    const checkpointsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-e2e-'));
    const server: BnlabServer = createServer({ config: { ...loadConfig(), checkpointsDir } });
    cleanups.push(() => server.close());
    const { url } = await server.listen();
    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });

    await page.goto(url);
    await page.click('[data-action=run-demo]');
    // Either the comparison view opens, or the home view shows why the demo could not start.
    await page.waitForFunction(() => document.querySelector('[data-view=comparison]') || document.querySelector('.demo-card .form-message.error'));
    const demoError = await page.$eval('.demo-card .form-message', (p) => (p.classList.contains('error') ? p.textContent : null)).catch(() => null);
    expect(demoError, 'the demo comparison should start').toBeNull();
    await page.waitForSelector('.connection[data-state=connected]');

    const pointsDrawn = () =>
      page.$$eval('canvas[data-chart]', (canvases) => canvases.reduce((sum, c) => sum + Number((c as HTMLElement).dataset.points ?? 0), 0));
    const samples: number[] = [];
    const finished = () => page.$eval('[data-final-table]', (t) => (t as HTMLElement).dataset.complete === 'true');
    // Sample while training runs: the count must rise between samples, not only jump at the end.
    while (!(await finished())) {
      samples.push(await pointsDrawn());
      if (samples.length === 3) {
        await fs.promises.mkdir(OUTPUT_DIR, { recursive: true });
        await page.screenshot({ path: path.join(OUTPUT_DIR, 'dashboard-e2e-live.png'), fullPage: true });
      }
      await page.waitForTimeout(2000);
      expect(samples.length, 'the demo comparison should finish within ~9 minutes').toBeLessThan(270);
    }
    samples.push(await pointsDrawn());
    const rises = samples.filter((value, i) => i > 0 && value > samples[i - 1]).length;
    expect(rises, `points drawn over time: ${samples.join(', ')}`).toBeGreaterThanOrEqual(3);
    expect(samples.at(-1)).toBeGreaterThan(samples[0]);

    const rows = await page.$$eval('[data-final-table] tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '')),
    );
    expect(rows.map((r) => r[0])).toEqual(['freeze-all', 'train-bn', 'train-bn+precise-bn', 'adabn']);
    for (const row of rows) {
      expect(row[1]).toBe('completed');
      expect(row[2]).toMatch(/%$/); // val accuracy filled in
    }
    // one sentence per policy, from the measured numbers (client/src/policy-story.ts)
    const stories = await page.$$eval('[data-story]', (items) => items.map((li) => [li.getAttribute('data-story'), li.textContent ?? '']));
    expect(stories.map(([policy]) => policy)).toEqual(['freeze-all', 'train-bn', 'train-bn+precise-bn', 'adabn']);
    for (const [, text] of stories) expect(text).toMatch(/\d+\.\d %/);
    expect(stories[2][1]).toMatch(/PreciseBN .* without it/);
    // the seed statistics (schema/comparison.ts): one point per policy x seed, a verdict per pair,
    // and the sentence next to the train-mode column
    await page.waitForSelector('[data-seed-statistics]', { timeout: 30_000 });
    expect(await page.$$eval('[data-seed-point]', (dots) => dots.length)).toBe(4);
    expect(await page.$$eval('[data-verdict]', (rows) => rows.length)).toBe(6);
    expect(await page.$eval('[data-seed-statistics]', (el) => el.textContent ?? '')).toMatch(/One seed: no interval over seeds/);
    expect(await page.$eval('[data-train-mode-note]', (el) => el.textContent ?? '')).toMatch(/EMA.*PreciseBN/);
    const heatmapColumns = await page.$$eval('canvas[data-heatmap]', (cs) => cs.map((c) => Number((c as HTMLElement).dataset.columns)));
    expect(heatmapColumns.every((n) => n > 1)).toBe(true);

    await page.screenshot({ path: path.join(OUTPUT_DIR, 'dashboard-e2e.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
