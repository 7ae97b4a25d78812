/**
 * The adapt job in Chromium: a finished 1-epoch demo run's view offers "Adapt to a shift"; the form
 * submits (stats, two corruptions at one severity) and the adapt view shows the before/after table
 * and the per-layer drift chart, with the figures the API reports. Real server and worker.
 * Screenshots: test-output/adapt-form.png, test-output/adapt-view.png. Skipped without Chromium (as test/browser.test.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, PROJECT_ROOT } from '../server/config.ts';
import { makeDemoDataset } from '../server/demo/make-dataset.ts';
import type { AdaptJobResponse } from '../server/schema/api.ts';
import { createServer } from '../server/web/app.ts';
import { ensureClientBuilt } from '../server/web/client-build.ts';
import { chromiumAvailable, launchChromium } from './support/chromium.ts';
import { getJson, postJson, waitForJob } from './support/test-server.ts';

const OUTPUT_DIR = path.join(PROJECT_ROOT, 'test-output');

describe.runIf(chromiumAvailable())('adapt job in a real browser', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('submits from a finished run\'s form and shows the before/after table and the drift chart', { timeout: 120_000 }, async () => {
    await ensureClientBuilt();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-adapt-e2e-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const data = path.join(dir, 'data', 'demo-small');
    await makeDemoDataset(data, { perClassTrain: 4, perClassVal: 3, seed: 7 });
    const server = createServer({ config: { ...loadConfig({}), dataRoots: [path.join(dir, 'data')], checkpointsDir: path.join(dir, 'checkpoints'), cacheDir: path.join(dir, 'cache') }, flushMs: 100 });
    cleanups.push(() => server.close());
    const { url } = await server.listen();
    const runId: string = (await postJson(`${url}api/runs`, { backbone: 'demo', data, policy: 'freeze-all', epochs: 1, batchSize: 8 })).body.runId;
    expect((await waitForJob(url, runId, ['completed', 'failed'], 60_000)).status).toBe('completed');

    const browser = await launchChromium();
    cleanups.push(() => browser.close());
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${url}#/job/${runId}`);
    const form = `[data-adapt-form="${runId}"]`;
    await page.waitForSelector(form);
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.locator('.adapt-panel').screenshot({ path: path.join(OUTPUT_DIR, 'adapt-form.png') });
    // tent with a batch of one is refused, the message names the field
    await page.selectOption(`${form} select[name=method]`, 'tent');
    await page.fill(`${form} input[name=batchSize]`, '1');
    await page.click(`${form} [data-action=adapt]`);
    await page.waitForFunction((sel) => document.querySelector(`${sel} .form-message`)?.textContent?.includes('batchSize'), form);
    // stats on contrast (checked by default) and blur, severity 3 (checked by default)
    await page.selectOption(`${form} select[name=method]`, 'stats');
    await page.fill(`${form} input[name=batchSize]`, '16');
    await page.check(`${form} input[name=corruption][value=blur]`);
    await page.click(`${form} [data-action=adapt]`);
    await page.waitForSelector('[data-view=adapt]');
    await page.waitForSelector('[data-adapt-table] tbody tr', { timeout: 60_000 });

    const adaptId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
    const { body } = await getJson(`${url}api/adapt/${adaptId}`);
    const job = body as AdaptJobResponse;
    expect(job.request).toMatchObject({ checkpoint: runId, method: 'stats', batchSize: 16, corruptions: ['blur', 'contrast'], severities: [3] }); // the form's order
    const rows = await page.$$eval('[data-adapt-table] tbody tr', (trs) =>
      trs.map((tr) => ({ cell: (tr as HTMLElement).dataset.cell, before: Number(tr.querySelector<HTMLElement>('[data-before]')!.dataset.before), after: Number(tr.querySelector<HTMLElement>('[data-after]')!.dataset.after) })),
    );
    expect(rows.map((r) => r.cell).sort()).toEqual(['blur-3', 'contrast-3']);
    for (const cell of job.report!.cells) {
      expect(rows.find((r) => r.cell === `${cell.corruption}-${cell.severity}`)).toEqual({ cell: `${cell.corruption}-${cell.severity}`, before: cell.before.accuracy, after: cell.after.accuracy });
    }
    // one point per BN layer per cell on the drift chart
    const points = await page.$eval('canvas[data-chart=adapt-drift]', (c) => Number((c as HTMLElement).dataset.points));
    expect(points).toBe(job.report!.cells.reduce((n, c) => n + c.drift.length, 0));
    await page.screenshot({ path: path.join(OUTPUT_DIR, 'adapt-view.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
