/**
 * The practitioner's dashboard (issue 13) in a real browser against the real server and the real
 * training worker: a runs table with columns, sorting, filtering and paging; every chart and table
 * downloadable (PNG / CSV / JSON); smoothing and a log axis that change what is plotted; the run
 * view's skipped files, preprocessing and checkpoint folder; model download and the predict box;
 * re-run with changes; overlaying runs from different jobs; delete; the inspect form keeping its
 * values; and the new-run form laid out without squashed inputs at 1280 and 800 px (screenshots in
 * test-output/). One real run of a few steps (~10 s) plus 26 short runs written to disk beforehand.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Download, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, PROJECT_ROOT, type BnlabConfig } from '../server/config.ts';
import type { RunEvent } from '../server/schema/events.ts';
import { RecipeSchema } from '../server/schema/recipe.ts';
import { createServer, type BnlabServer } from '../server/web/app.ts';
import { ensureClientBuilt } from '../server/web/client-build.ts';
import { chromiumAvailable, launchChromium } from './support/chromium.ts';
import { getJson, postJson, waitForJob } from './support/test-server.ts';

const OUTPUT_DIR = path.join(PROJECT_ROOT, 'test-output');
const DIGITS = path.join(process.env.BNLAB_SHARED_DATA ?? '/work/shared/data', 'digits', 'train');
const haveChromium = chromiumAvailable();
const haveDigits = fs.existsSync(DIGITS);
const POLICIES = ['freeze-all', 'train-bn', 'adabn'] as const;

/** A finished run's metrics file, as the training loop writes it (a few steps, one epoch). */
function writeStoredRun(checkpointsDir: string, runId: string, policy: string, data: string, accuracy: number): void {
  const recipe = RecipeSchema.parse({ backbone: 'demo', data, policy, epochs: 1 });
  const layers = ['stem_bn', 'block1_bn'];
  const events: RunEvent[] = [
    { type: 'runStarted', runId, time: '2026-12-01T09:00:00Z', recipe, backend: 'cpu', backbone: { name: 'demo', inputSize: 32, bnLayers: layers }, classes: ['a', 'b'], trainCount: 8, valCount: 4, stepsPerEpoch: 4, totalSteps: 4,
      policy: { name: policy, description: policy, trainableLayers: [], bnTrainMode: [], bnAffineTrainable: [], bnMomentumKeras: null } },
    ...[1, 2, 3, 4].map((step): RunEvent => ({ type: 'stepEnd', runId, step, epoch: 0, loss: 2 / step, accuracy: 0.2 * step, lr: 1e-3, msPerImage: 1 })),
    { type: 'bnStats', runId, step: 4, epoch: 0, layers: layers.map((layer, i) => ({ layer, meanShift: 0.1 * (i + 1), logVarRatio: 0.2, symmetricKl: 0.3, batchGap: 0.05, gammaChange: 0, betaChange: 0 })) },
    { type: 'epochEnd', runId, epoch: 0, step: 4, train: { loss: 0.5, accuracy: 0.8 }, val: { loss: 0.6, accuracy }, valTrainModeAccuracy: null },
    { type: 'runFinished', runId, status: 'completed', summary: { runId, policy, valAccuracy: accuracy, valLoss: 0.6, valTrainModeAccuracy: null, seconds: 3, steps: 4, totalMeanShift: 0.3, skippedFiles: [], checkpointDir: path.join(checkpointsDir, runId) } },
  ];
  fs.mkdirSync(path.join(checkpointsDir, runId), { recursive: true });
  fs.writeFileSync(path.join(checkpointsDir, runId, 'metrics.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const meta = { format: 'bnlab-checkpoint@1', runId, recipe, classes: ['a', 'b'], preprocessing: 'minus1to1', inputSize: 32, epoch: 0, step: 4, completed: true, backend: 'cpu', time: '2026-12-01T09:00:00Z' };
  fs.writeFileSync(path.join(checkpointsDir, runId, 'checkpoint.json'), JSON.stringify(meta));
}

async function downloaded(page: Page, click: () => Promise<void>): Promise<{ name: string; bytes: Buffer }> {
  const [download]: [Download, void] = await Promise.all([page.waitForEvent('download'), click()]);
  const file = await download.path();
  return { name: download.suggestedFilename(), bytes: fs.readFileSync(file!) };
}

describe.runIf(haveChromium && haveDigits)('dashboard for practitioners (issue 13), in Chromium', () => {
  let server: BnlabServer;
  let url: string;
  let dir: string;
  let config: BnlabConfig;
  let dataset: string;
  let realRun: string;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    await ensureClientBuilt();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-practitioner-'));
    const dataRoot = path.join(dir, 'data');
    dataset = path.join(dataRoot, 'two-digits');
    for (const digit of ['3', '8']) {
      fs.mkdirSync(path.join(dataset, digit), { recursive: true });
      for (const name of fs.readdirSync(path.join(DIGITS, digit)).sort().slice(0, 12)) fs.copyFileSync(path.join(DIGITS, digit, name), path.join(dataset, digit, name));
    }
    fs.writeFileSync(path.join(dataset, '3', 'broken.png'), 'this is not a PNG'); // skipped, with a reason
    config = { ...loadConfig({}), dataRoots: [dataRoot], checkpointsDir: path.join(dir, 'checkpoints'), cacheDir: path.join(dir, 'cache') };
    for (let i = 0; i < 26; i++) writeStoredRun(config.checkpointsDir, `stored-${String(i).padStart(2, '0')}`, POLICIES[i % 3], `/somewhere/set-${i % 2 ? 'odd' : 'even'}`, 0.3 + 0.02 * i);
    server = createServer({ config, flushMs: 100 });
    ({ url } = await server.listen());
    const recipe = { backbone: 'demo', data: dataset, policy: 'train-bn', epochs: 2, maxStepsPerEpoch: 3, batchSize: 8, logEvery: 1 };
    realRun = (await postJson(`${url}api/runs`, recipe)).body.runId;
    await waitForJob(url, realRun, ['completed'], 90_000);
    browser = await launchChromium({ width: 1280, height: 900 });
    page = await browser.context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs table: columns, paging, filter, sort, CSV export; the form is not squashed at 1280 or 800 px', async () => {
    await page.goto(url);
    await page.waitForSelector(`tr[data-job="${realRun}"]`);
    expect(await page.$$eval('.run-list thead th', (ths) => ths.map((th) => th.textContent?.replace(/[▾▴]/g, '').trim()))).toEqual(
      ['', 'status', 'name', 'policy', 'backbone', 'data', 'best val acc.', 'duration', 'progress', 'created'],
    );
    expect(await page.$$eval('.run-list tbody tr', (rows) => rows.length)).toBe(25);
    expect(await page.textContent('.pager')).toMatch(/page 1 of 2 · 27 runs/);
    await page.click('[data-action=next-page]');
    expect(await page.$$eval('.run-list tbody tr', (rows) => rows.length)).toBe(2);

    await page.fill('[data-control=runs-filter]', 'adabn odd');
    const filtered = await page.$$eval('.run-list tbody tr', (rows) => rows.map((r) => r.textContent ?? ''));
    expect(filtered.length).toBe(4); // stored-05, 11, 17, 23: adabn on set-odd
    expect(filtered.every((text) => text.includes('adabn') && text.includes('set-odd'))).toBe(true);
    await page.fill('[data-control=runs-filter]', '');

    await page.click('th[data-sort=bestValAccuracy]');
    const best = await page.$$eval('.run-list tbody tr td:nth-child(7)', (tds) => tds.map((td) => Number.parseFloat(td.textContent ?? '')));
    expect(best[0]).toBeCloseTo(80, 0); // stored-25: 0.3 + 0.02 * 25
    expect(best.slice(0, 10)).toEqual([...best.slice(0, 10)].sort((a, b) => b - a));

    const csv = await downloaded(page, () => page.click('[data-export=runs-csv]'));
    const lines = csv.bytes.toString('utf8').trim().split('\r\n');
    expect(lines[0]).toBe('id,name,kind,policy,backbone,data,bestValAccuracy,status,durationSeconds,createdAt');
    expect(lines.length).toBe(28);

    for (const width of [1280, 800]) {
      await page.setViewportSize({ width, height: 900 });
      await page.waitForTimeout(100);
      const layout = await page.evaluate(() => {
        const unfreeze = document.querySelector('input[name=unfreezeLast]')!.getBoundingClientRect();
        const labels = [...document.querySelectorAll('.run-form fieldset label.inline')].map((l) => ({ text: l.textContent?.trim(), height: l.getBoundingClientRect().height }));
        return { unfreezeWidth: unfreeze.width, labels };
      });
      expect(layout.unfreezeWidth, `unfreeze-last box at ${width}px`).toBeGreaterThanOrEqual(60);
      // one line each: no "freeze-/all" wrapping
      for (const label of layout.labels) expect(label.height, `${label.text} at ${width}px`).toBeLessThan(40);
      await page.screenshot({ path: path.join(OUTPUT_DIR, `dashboard-home-${width}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('run view: skipped files, preprocessing, checkpoint folder; smoothing, log axis, metric axis; PNG/CSV/model downloads; predict', async () => {
    await page.goto(`${url}#/job/${realRun}`);
    await page.waitForSelector('[data-run-folder]');
    await page.waitForFunction(() => Number(document.querySelector('canvas[data-chart=loss]')?.getAttribute('data-points')) >= 6);
    expect(await page.getAttribute('[data-skipped]', 'data-skipped')).toBe('1');
    await page.click('.skipped-files summary');
    expect(await page.textContent('.skipped-files')).toMatch(/broken\.png — .+/);
    const folder = path.join(fs.realpathSync(config.checkpointsDir), realRun);
    expect(await page.textContent('[data-checkpoint-path]')).toBe(folder);
    expect(await page.textContent('[data-run-folder]')).toMatch(/preprocessing.*\((minus1to1|zero1)\)/);

    const sum = () => page.getAttribute('canvas[data-chart=loss]', 'data-plotted-sum');
    const raw = await sum();
    await page.$eval('[data-control=smoothing]', (input) => {
      (input as HTMLInputElement).value = '0.9';
      input.dispatchEvent(new Event('input'));
    });
    await page.waitForFunction((before) => document.querySelector('canvas[data-chart=loss]')?.getAttribute('data-plotted-sum') !== before, raw);
    expect(await page.getAttribute('canvas[data-chart=loss]', 'data-smoothing')).toBe('0.9');
    await page.click('[data-control=log-scale]');
    await page.waitForSelector('canvas[data-chart=loss][data-scale=log]');
    await page.waitForSelector('canvas[data-chart=drift][data-scale=log]');
    await page.selectOption('select[aria-label="drift measure"]', 'symmetricKl');
    await page.waitForFunction(() => /symmetric KL/.test(document.querySelector('canvas[data-chart=drift]')?.getAttribute('data-y-label') ?? ''));
    expect(await page.getAttribute('canvas[data-chart=accuracy]', 'data-y-label')).toBe('accuracy (%)');

    const png = await downloaded(page, () => page.click('[data-figure=loss] [data-export=png]'));
    expect(png.name).toBe(`${realRun}-loss.png`);
    expect(png.bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.bytes.length).toBeGreaterThan(2000);
    const heat = await downloaded(page, () => page.click('.heatmap-figure [data-export=png]'));
    expect(heat.bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
    const steps = await downloaded(page, () => page.click('[data-export=steps-csv]'));
    const stepLines = steps.bytes.toString('utf8').trim().split('\r\n');
    expect(stepLines[0]).toBe('step,epoch,loss,accuracy,ms_per_image');
    expect(stepLines.length).toBe(7); // 2 epochs × 3 steps
    const events = JSON.parse((await downloaded(page, () => page.click('[data-export=events-json]'))).bytes.toString('utf8'));
    expect(events[0].type).toBe('runStarted');
    const model = JSON.parse((await downloaded(page, () => page.click('[data-download="model.json"]'))).bytes.toString('utf8'));
    expect(model.modelTopology).toBeTruthy();

    const image = path.join(dataset, '8', fs.readdirSync(path.join(dataset, '8'))[0]);
    await page.setInputFiles('[data-predict-input]', image);
    await page.waitForSelector('[data-predict-result] li', { timeout: 60_000 });
    const labels = await page.$$eval('[data-predict-result] li', (items) => items.map((li) => li.getAttribute('data-label')));
    expect(labels.sort()).toEqual(['3', '8']);
    await page.screenshot({ path: path.join(OUTPUT_DIR, 'dashboard-run.png'), fullPage: true });
  });

  it('re-run with changes prefills the form; overlay of runs from different jobs; delete', async () => {
    await page.click('[data-action=rerun]');
    await page.waitForFunction(() => (document.querySelector('input[name=epochs]') as HTMLInputElement | null)?.value === '2' && !!document.querySelector('.clone-note')?.textContent);
    expect(await page.inputValue('select[name=data]')).toBe(dataset);
    expect(await page.isChecked('input[name=policy][value=train-bn]')).toBe(true);

    await page.goto(`${url}#/`);
    await page.waitForSelector(`tr[data-job="${realRun}"]`);
    await page.check(`[data-select="${realRun}"]`);
    await page.check('[data-select="stored-25"]');
    await page.click('[data-action=overlay]');
    await page.waitForSelector('[data-view=overlay]');
    await page.waitForFunction(() => Number(document.querySelector('canvas[data-chart=loss]')?.getAttribute('data-points')) >= 10);
    expect(await page.$$eval('[data-final-table] tbody tr', (rows) => rows.length)).toBe(2);
    const results = await downloaded(page, () => page.click('h2 [data-export=json]'));
    expect(JSON.parse(results.bytes.toString('utf8')).map((r: Record<string, string>) => r.status)).toEqual(['completed', 'completed']);
    await page.screenshot({ path: path.join(OUTPUT_DIR, 'dashboard-overlay.png'), fullPage: true });

    await page.goto(`${url}#/job/stored-00`);
    await page.waitForSelector('[data-action=delete]');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.click('[data-action=delete]');
    await page.waitForSelector('[data-view=home]');
    await page.waitForSelector(`tr[data-job="${realRun}"]`);
    expect(await page.$('tr[data-job="stored-00"]')).toBeNull();
    expect(fs.existsSync(path.join(config.checkpointsDir, 'stored-00'))).toBe(false);
    expect((await getJson(`${url}api/runs/stored-00`)).status).toBe(404);
  });

  it('inspect keeps its form values after showing a result; its ranking downloads as CSV', async () => {
    await page.goto(`${url}#/inspect`);
    await page.waitForFunction((data) => [...document.querySelectorAll('select[name=data] option')].some((o) => (o as HTMLOptionElement).value === data), dataset);
    await page.selectOption('select[name=data]', dataset);
    await page.fill('input[name=batchSize]', '8');
    await page.click('.inspect-view button[type=submit]');
    await page.waitForFunction(() => /^#\/inspect\/.+/.test(location.hash));
    await page.waitForSelector('[data-recommendation]', { timeout: 60_000 });
    await page.waitForFunction((data) => (document.querySelector('select[name=data]') as HTMLSelectElement).value === data, dataset);
    expect(await page.inputValue('input[name=batchSize]')).toBe('8');
    const ranking = await downloaded(page, () => page.click('.inspect-result [data-export=csv]'));
    const rows = ranking.bytes.toString('utf8').trim().split('\r\n');
    expect(rows[0]).toBe('#,layer,symmetric KL (nats),relative to the largest,mean shift (σ₀ units),log-var ratio (nats),channels');
    expect(rows.length).toBe(12); // the demo backbone's 11 BN layers
    expect(Number(rows[1].split(',')[3])).toBe(1); // ranked first: the largest
    expect(pageErrors).toEqual([]);
  });
});
