/**
 * The Teachable Machine round trip with the real library. The shared Teachable Machine export
 * (../shared/models/teachable_mobilenet_v2_0.35_224: model.json, weights.bin, metadata.json) is
 * used as the user would: predicted, recalibrated (CLI) and fine-tuned with several policies by
 * bnlab, and every folder bnlab writes is loaded in Chromium by @teachablemachine/image
 * (`tmImage.load(model.json, metadata.json)` + `predict(img)`) and by a plain page with the tfjs
 * script; both must predict the classes `bnlab predict` predicts on the same images.
 *
 * The browser resizes with canvas drawImage and decodes JPEG itself, bnlab with sharp and its own
 * bilinear crop (and the library scales x / 127 - 1, bnlab x / 127.5 - 1), so probabilities differ
 * slightly: the top class must agree wherever bnlab's own margin between the two classes exceeds
 * MARGIN, and every probability must agree within PROBABILITY_TOLERANCE.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../server/config.ts';
import { selectBackend } from '../server/engine/backend.ts';
import { parseRecipe } from '../server/schema/recipe.ts';
import { runTraining } from '../server/train/loop.ts';
import { exportCheckpoint } from '../server/commands/export.ts';
import { predictFiles, type Prediction } from '../server/commands/predict.ts';
import { chromiumAvailable, CHROMIUM_PATH } from './support/chromium.ts';
import { BNLAB_BIN } from './support/reliability-fixtures.ts';
import { openModelPage, type ModelPage, type PagePrediction } from './support/model-page.ts';

const run = promisify(execFile);
const modelsDir = process.env.BNLAB_MODELS_DIR;
const sharedData = process.env.BNLAB_SHARED_DATA;
const TM_DIR = modelsDir ? path.join(modelsDir, 'teachable_mobilenet_v2_0.35_224') : '';
const available = Boolean(modelsDir && sharedData && fs.existsSync(path.join(TM_DIR, 'metadata.json')) && chromiumAvailable());
if (!available && process.env.CI) throw new Error(`CI must set BNLAB_MODELS_DIR and BNLAB_SHARED_DATA and install Chromium (${CHROMIUM_PATH})`);

const MARGIN = 0.2;
const PROBABILITY_TOLERANCE = 0.15;

/** `count` images per class of ants-bees/<split>, copied into `dest/<class>/`. */
function sample(split: 'train' | 'val', count: number, dest: string): string[] {
  const files: string[] = [];
  for (const label of ['ants', 'bees']) {
    const from = path.join(sharedData!, 'ants-bees', split, label);
    fs.mkdirSync(path.join(dest, label), { recursive: true });
    for (const name of fs.readdirSync(from).filter((f) => f !== 'imageNotFound.jpg').sort().slice(0, count)) {
      fs.copyFileSync(path.join(from, name), path.join(dest, label, name));
      files.push(path.join(dest, label, name));
    }
  }
  return files;
}

/** bnlab's and the page's predictions agree: same top class where bnlab is sure, close probabilities everywhere. */
function expectAgreement(ours: Prediction[], theirs: PagePrediction[][], what: string): { sure: number; maxDifference: number } {
  expect(theirs).toHaveLength(ours.length);
  let sure = 0;
  let maxDifference = 0;
  ours.forEach((prediction, i) => {
    const page = new Map(theirs[i].map((p) => [p.label, p.probability]));
    for (const { label, probability } of prediction.top) {
      expect(page.has(label), `${what}: the page knows class ${label}`).toBe(true);
      maxDifference = Math.max(maxDifference, Math.abs(page.get(label)! - probability));
    }
    const [first, second] = prediction.top;
    if (first.probability - second.probability > MARGIN) {
      sure++;
      const pageTop = [...theirs[i]].sort((a, b) => b.probability - a.probability)[0].label;
      expect(pageTop, `${what}: ${prediction.file}`).toBe(first.label);
    }
  });
  expect(maxDifference, `${what}: largest probability difference`).toBeLessThan(PROBABILITY_TOLERANCE);
  return { sure, maxDifference };
}

describe.skipIf(!available)('Teachable Machine round trip with @teachablemachine/image in Chromium', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-tm-'));
  const config = { ...loadConfig(), checkpointsDir: path.join(work, 'checkpoints') };
  const trainDir = path.join(work, 'train');
  let images: string[];
  let page: ModelPage;
  const folders: Record<string, string> = {};

  beforeAll(async () => {
    await selectBackend('wasm');
    sample('train', 8, trainDir);
    images = sample('val', 5, path.join(work, 'images'));
    for (const name of ['recalibrated', 'export-freeze-all', 'export-train-bn', 'export-adabn']) folders[name] = path.join(work, name);
    folders.original = TM_DIR;
    for (const dir of Object.values(folders)) fs.mkdirSync(dir, { recursive: true });
    page = await openModelPage(folders);
  }, 120_000);
  afterAll(async () => {
    await page?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('the original export: bnlab predict (labels and [-1,1] from metadata.json) agrees with the library', { timeout: 300_000 }, async () => {
    const ours = await predictFiles(TM_DIR, images, 2);
    expect(ours.setup).toMatchObject({ inputSize: 224, preprocessing: 'minus1to1', from: 'metadata.json', classes: ['가위', '주먹'] });
    const agreement = expectAgreement(ours.predictions, await page.predict('teachable-machine', 'original', images), 'original');
    expect(agreement.sure).toBeGreaterThanOrEqual(images.length / 2);
  });

  it('bnlab recalibrate (CLI) writes a Teachable Machine folder the library loads and agrees with', { timeout: 600_000 }, async () => {
    const out = folders.recalibrated;
    const { stderr } = await run(process.execPath, [BNLAB_BIN, 'recalibrate', '--backbone', TM_DIR, '--data', trainDir, '--out', out, '--batch-size', '8'], {
      env: { ...process.env, BNLAB_BACKEND: 'wasm' },
      maxBuffer: 1 << 24,
    });
    expect(stderr).toContain('backbone teachable_mobilenet_v2_0.35_224: input 224x224, preprocessing [-1, 1] (x / 127.5 - 1) (Teachable Machine metadata.json), cut at out_relu (default rule)');
    for (const file of ['model.json', 'weights.bin', 'metadata.json', 'backbone.json']) expect(fs.existsSync(path.join(out, file)), file).toBe(true);
    const metadata = JSON.parse(fs.readFileSync(path.join(out, 'metadata.json'), 'utf8'));
    expect(metadata).toMatchObject({ labels: ['가위', '주먹'], imageSize: 224, packageName: '@teachablemachine/image' });
    const ours = await predictFiles(out, images, 2);
    const before = await predictFiles(TM_DIR, images, 2);
    const moved = ours.predictions.map((p, i) => Math.abs(p.top.find((t) => t.label === '가위')!.probability - before.predictions[i].top.find((t) => t.label === '가위')!.probability));
    expect(Math.max(...moved), 'recalibration changes the outputs').toBeGreaterThan(1e-3);
    expectAgreement(ours.predictions, await page.predict('teachable-machine', 'recalibrated', images), 'recalibrated');
  });

  for (const policy of ['freeze-all', 'train-bn', 'adabn']) {
    it(`fine-tune with ${policy}, export: the library and a plain tfjs page agree with bnlab predict`, { timeout: 600_000 }, async () => {
      const recipe = parseRecipe({ backbone: TM_DIR, data: trainDir, policy, epochs: 2, batchSize: 4, maxStepsPerEpoch: 3, valFraction: 0.25, optimizer: { type: 'adam', lr: 0.01 }, augment: { randomResizedCrop: false, horizontalFlip: false }, seed: 3 });
      const checkpoint = path.join(work, `ck-${policy}`);
      await runTraining(recipe, { runId: `tm-${policy}`, config, onEvent: () => {}, outDir: checkpoint });
      const out = folders[`export-${policy}`];
      const result = await exportCheckpoint(checkpoint, out);
      expect(result.teachableMachine).toBe(true);
      for (const file of ['model.json', 'weights.bin', 'metadata.json']) expect(fs.existsSync(path.join(out, file)), file).toBe(true);
      const ours = await predictFiles(out, images, 2);
      expect(ours.setup.classes).toEqual(['ants', 'bees']);
      expect((await predictFiles(checkpoint, images, 2)).predictions).toEqual(ours.predictions);
      const library = expectAgreement(ours.predictions, await page.predict('teachable-machine', `export-${policy}`, images), `${policy} export, library`);
      const tfjs = expectAgreement(ours.predictions, await page.predict('tfjs', `export-${policy}`, images), `${policy} export, tfjs page`);
      console.log(`${policy}: ${library.sure}/${images.length} images with margin > ${MARGIN}; max |Δp| library ${library.maxDifference.toFixed(3)}, tfjs page ${tfjs.maxDifference.toFixed(3)}`);
    });
  }
});
