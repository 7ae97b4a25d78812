/**
 * Bring your own model, every topology family: small random-weight models built here
 * (test/support/topologies.ts; residual adds + ZeroPadding + ReLU6, Inception Concatenate branches
 * with max/average pooling and gamma-less BN, darknet LeakyReLU + MaxPooling + class-count conv,
 * separable convs + swish + Multiply, and uint8 / uint16 / float16 weights) go through load,
 * inspect, train (freeze-all and train-bn), recalibrate, predict and export on the wasm backend,
 * each folder stating its preprocessing in backbone.json and its cut left to the default rule.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type BnlabConfig } from '../server/config.ts';
import { selectBackend } from '../server/engine/backend.ts';
import { loadBackbone } from '../server/backbones/load.ts';
import { parseRecipe } from '../server/schema/recipe.ts';
import { runTraining } from '../server/train/loop.ts';
import { inspectRecipe } from '../server/commands/inspect.ts';
import { recalibrateBackbone } from '../server/commands/recalibrate.ts';
import { predictFiles } from '../server/commands/predict.ts';
import { exportCheckpoint } from '../server/commands/export.ts';
import { writeLayersModel } from '../server/train/checkpoint.ts';
import { writeImageFolder } from './support/reliability-fixtures.ts';
import { TOPOLOGIES, randomizeBatchNorm, writeQuantized, type QuantizationDtype, type TopologyName } from './support/topologies.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-byom-topo-'));
let config: BnlabConfig;
let data: string;

beforeAll(async () => {
  await selectBackend('wasm');
  config = { ...loadConfig({}), checkpointsDir: path.join(work, 'checkpoints'), cacheDir: path.join(work, 'cache') };
  data = await writeImageFolder(path.join(work, 'data'), 6);
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** Write a family's model with randomised BN statistics and a sidecar that states only the preprocessing. */
async function writeFamily(family: TopologyName, quantized?: QuantizationDtype): Promise<{ dir: string; expectedCut: string }> {
  const { model, expectedCut } = TOPOLOGIES[family](`${family}${quantized ? `_${quantized}` : ''}`);
  randomizeBatchNorm(model, 7);
  const dir = path.join(work, `model-${family}${quantized ? `-${quantized}` : ''}`);
  if (quantized) await writeQuantized(model, dir, quantized);
  else await writeLayersModel(dir, model);
  model.dispose();
  fs.writeFileSync(path.join(dir, 'backbone.json'), JSON.stringify({ preprocessing: '[-1,1]' }));
  return { dir, expectedCut };
}

const images = () => fs.readdirSync(path.join(data, 'warm')).map((f) => path.join(data, 'warm', f)).slice(0, 3);

async function endToEnd(family: TopologyName, quantized?: QuantizationDtype) {
  const { dir, expectedCut } = await writeFamily(family, quantized);
  const loaded = await loadBackbone(dir, config);
  expect(loaded.entry.cutLayer).toBe(expectedCut);
  expect(loaded.stated).toEqual({ preprocessing: 'sidecar', cutLayer: 'rule' });
  loaded.model.dispose();

  const recipe = (policy: string) => parseRecipe({ backbone: dir, data, policy, epochs: 1, batchSize: 4, maxStepsPerEpoch: 2, seed: 1 });
  const inspection = await inspectRecipe(recipe('train-bn'), config);
  expect(inspection.setup).toMatchObject({ cutLayer: expectedCut, inputSize: 16, preprocessing: 'minus1to1', preprocessingFrom: 'sidecar' });
  expect(inspection.layers.length).toBeGreaterThan(0);
  expect(inspection.layers.every((l) => Number.isFinite(l.meanShift))).toBe(true);

  const checkpoints: Record<string, string> = {};
  for (const policy of ['freeze-all', 'train-bn']) {
    const events: { type: string; code?: string; message?: string }[] = [];
    const outDir = path.join(work, `ck-${family}-${quantized ?? 'f32'}-${policy}`);
    const summary = await runTraining(recipe(policy), { runId: `${family}-${policy}`, config, onEvent: (e) => events.push(e as never), outDir });
    expect(summary.steps).toBe(2);
    expect(Number.isFinite(summary.valLoss)).toBe(true);
    const setupLine = events.find((e) => e.type === 'log' && e.code === 'backbone-setup');
    expect(setupLine?.message).toContain(`cut at ${expectedCut} (default rule)`);
    checkpoints[policy] = outDir;
  }

  // recalibrate writes a model that predict, export, inspect and train accept
  const recalDir = path.join(work, `recal-${family}-${quantized ?? 'f32'}`);
  const recal = await recalibrateBackbone({ backbone: dir, data, outDir: recalDir, batchSize: 4 }, config);
  expect(recal.layers.length).toBeGreaterThan(0);
  expect(recal.layers.some((l) => l.meanShift > 0)).toBe(true);
  const recalPredictions = await predictFiles(recalDir, images(), 2);
  expect(recalPredictions.predictions).toHaveLength(3);
  expect(recalPredictions.setup).toMatchObject({ inputSize: 16, preprocessing: 'minus1to1', from: 'model.json' });
  expect(recalPredictions.predictions[0].top[0].label).toMatch(/^class_\d$/);
  const recalAgain = await inspectRecipe(parseRecipe({ backbone: recalDir, data, batchSize: 4 }), config);
  expect(recalAgain.setup).toMatchObject({ cutLayer: expectedCut, preprocessingFrom: 'sidecar', cutLayerFrom: 'sidecar' });
  const retrained = await runTraining(parseRecipe({ backbone: recalDir, data, policy: 'train-bn', epochs: 1, batchSize: 4, maxStepsPerEpoch: 1 }), {
    runId: `${family}-recal-train`,
    config,
    onEvent: () => {},
    outDir: path.join(work, `ck-${family}-${quantized ?? 'f32'}-recal`),
  });
  expect(retrained.steps).toBe(1);
  await exportCheckpoint(recalDir, path.join(recalDir, 'export'));

  // predict on a checkpoint equals predict on its export
  for (const policy of ['freeze-all', 'train-bn']) {
    const exportDir = path.join(work, `export-${family}-${quantized ?? 'f32'}-${policy}`);
    await exportCheckpoint(checkpoints[policy], exportDir);
    const [fromCheckpoint, fromExport] = [await predictFiles(checkpoints[policy], images(), 2), await predictFiles(exportDir, images(), 2)];
    expect(fromExport.predictions.map((p) => p.top)).toEqual(fromCheckpoint.predictions.map((p) => p.top));
    expect(fromCheckpoint.predictions[0].top[0].label).toMatch(/^(cool|warm)$/);
  }
}

describe('bring your own model: each topology family end to end (wasm)', () => {
  for (const family of Object.keys(TOPOLOGIES) as TopologyName[]) {
    it(`${family}: load, inspect, train freeze-all and train-bn, recalibrate, predict, export`, { timeout: 240_000 }, async () => {
      await endToEnd(family);
    });
  }
});

describe('quantized weights (uint8, uint16, float16 in the weights manifest)', () => {
  for (const dtype of ['uint8', 'uint16', 'float16'] as const) {
    it(`${dtype}: loads with weights within one quantization step, then runs end to end`, { timeout: 240_000 }, async () => {
      const { model } = TOPOLOGIES.residual(`residual_${dtype}`);
      randomizeBatchNorm(model, 7);
      const floatDir = path.join(work, `float-ref-${dtype}`);
      await writeLayersModel(floatDir, model);
      model.dispose();
      const { dir } = await writeFamily('residual', dtype);
      const [reference, quantized] = [await loadBackbone(floatDir, config, { preprocessing: 'minus1to1' }), await loadBackbone(dir, config)];
      const a = reference.model.getWeights();
      const b = quantized.model.getWeights();
      expect(b.length).toBe(a.length);
      a.forEach((w, i) => {
        const values = w.dataSync() as Float32Array;
        const got = b[i].dataSync() as Float32Array;
        const range = Math.max(...values) - Math.min(...values);
        const step = dtype === 'uint8' ? range / 255 : dtype === 'uint16' ? range / 65535 : 0;
        values.forEach((v, j) => expect(Math.abs(got[j] - v)).toBeLessThanOrEqual(step / 2 + Math.abs(v) * 1e-3 + 1e-7));
      });
      expect(a.some((w, i) => (w.dataSync() as Float32Array).some((v, j) => v !== (b[i].dataSync() as Float32Array)[j]))).toBe(true);
      reference.model.dispose();
      quantized.model.dispose();
      await endToEnd('residual', dtype);
    });
  }
});

describe('a model without stated preprocessing', () => {
  it('is refused by inspect, train and recalibrate, and accepted with recipe.preprocessing', async () => {
    const { model } = TOPOLOGIES.darknet('unstated');
    const dir = path.join(work, 'model-unstated');
    await writeLayersModel(dir, model);
    model.dispose();
    const message = /does not say how its pixels are scaled.*--preprocessing.*backbone\.json.*bnlab layers --backbone/;
    await expect(inspectRecipe(parseRecipe({ backbone: dir, data }), config)).rejects.toThrow(message);
    await expect(runTraining(parseRecipe({ backbone: dir, data, epochs: 1 }), { runId: 'unstated', config, onEvent: () => {}, outDir: path.join(work, 'ck-unstated') })).rejects.toThrow(message);
    await expect(recalibrateBackbone({ backbone: dir, data, outDir: path.join(work, 'recal-unstated'), batchSize: 4 }, config)).rejects.toThrow(message);
    const stated = await inspectRecipe(parseRecipe({ backbone: dir, data, preprocessing: '[0,1]', cutLayer: 'unstated_leaky1', batchSize: 4 }), config);
    expect(stated.setup).toMatchObject({ preprocessing: 'zero1', preprocessingFrom: 'option', cutLayer: 'unstated_leaky1', cutLayerFrom: 'option' });
  });
});
