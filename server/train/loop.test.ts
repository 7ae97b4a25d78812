import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { type RunEvent } from '../schema/events.ts';
import { parseRecipe, type RecipeInput } from '../schema/recipe.ts';
import { diskHandler } from '../backbones/model-files.ts';
import { loadCheckpoint, writeLayersModel } from './checkpoint.ts';
import { runTraining } from './loop.ts';
import { selectBackend } from '../engine/backend.ts';
import { writeImageFolder, writeTinyBackbone } from '../../test/support/reliability-fixtures.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-run-'));
const config = { ...loadConfig(), checkpointsDir: path.join(work, 'checkpoints') };

const backboneDir = path.join(work, 'backbone');
const dataDir = path.join(work, 'images');
const recipe = (overrides: Partial<RecipeInput> = {}) =>
  parseRecipe({ backbone: backboneDir, data: dataDir, policy: 'train-bn', epochs: 2, batchSize: 8, seed: 3, logEvery: 2, augment: { randomResizedCrop: true, scale: [0.5, 1], horizontalFlip: true }, ...overrides });

async function train(runId: string, overrides: Partial<RecipeInput> = {}, extra: { signal?: AbortSignal; resume?: boolean; onEvent?: (e: RunEvent) => void } = {}) {
  const events: RunEvent[] = [];
  const summary = await runTraining(recipe(overrides), {
    runId,
    config,
    backend: process.env.BNLAB_TEST_BACKEND ?? 'wasm',
    onEvent: (e) => {
      events.push(e);
      extra.onEvent?.(e);
    },
    signal: extra.signal,
    resume: extra.resume,
  });
  return { summary, events };
}

describe('training run end to end', () => {
  beforeAll(async () => {
    await selectBackend(process.env.BNLAB_TEST_BACKEND ?? 'wasm');
    await writeTinyBackbone(backboneDir);
    await writeImageFolder(dataDir, 20);
  });

  it('trains, emits typed events and writes a checkpoint plain tfjs can load', async () => {
    const { summary, events } = await train('basic');
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('runStarted');
    expect(types.filter((t) => t === 'epochEnd')).toHaveLength(2);
    expect(types.at(-1)).toBe('runFinished');
    const started = events.find((e) => e.type === 'runStarted')!;
    if (started.type !== 'runStarted') throw new Error('unreachable');
    expect(started.classes).toEqual(['cool', 'warm']);
    expect(started.policy.bnTrainMode).toEqual(['bn0', 'bn1', 'bn2']);
    const steps = events.filter((e) => e.type === 'stepEnd');
    expect(steps.length).toBe(started.totalSteps);
    const stats = events.filter((e) => e.type === 'bnStats');
    expect(stats.length).toBeGreaterThan(2);
    const lastStats = stats.at(-1)!;
    if (lastStats.type !== 'bnStats') throw new Error('unreachable');
    expect(lastStats.layers.map((l) => l.layer)).toEqual(['bn0', 'bn1', 'bn2']);
    // train-bn moves the running statistics away from the pretrained ones
    expect(lastStats.layers[0].meanShift).toBeGreaterThan(0.01);
    expect(summary.valAccuracy).toBeGreaterThanOrEqual(0);
    expect(summary.steps).toBe(started.totalSteps);

    const metrics = fs.readFileSync(path.join(summary.checkpointDir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(metrics.length).toBe(events.length);

    const plain = await tf.loadLayersModel(diskHandler(path.join(summary.checkpointDir, 'model.json')));
    expect(plain.outputs[0].shape).toEqual([null, 2]);
    const { meta } = await loadCheckpoint(summary.checkpointDir);
    expect(meta.completed).toBe(true);
    expect(meta.classes).toEqual(['cool', 'warm']);
    expect(fs.readdirSync(summary.checkpointDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('reports a conv bias feeding BN before the run starts and keeps that warning in metrics.jsonl', async () => {
    const biased = path.join(work, 'biased');
    await writeTinyBackbone(biased, { biasBeforeBn: true });
    const { summary, events } = await train('biased', { backbone: biased, epochs: 1 });
    const warning = events.find((e) => e.type === 'log' && e.code === 'lint');
    expect(warning?.type === 'log' && warning.message).toMatch(/layer 'conv0' has a bias feeding straight into BatchNorm 'bn0'/);
    const lines = fs.readFileSync(path.join(summary.checkpointDir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual(JSON.parse(JSON.stringify(events)));
  });

  it('freeze-all leaves every BN running statistic exactly at its pretrained value', async () => {
    const { events } = await train('frozen', { policy: 'freeze-all' });
    const stats = events.filter((e) => e.type === 'bnStats').at(-1)!;
    if (stats.type !== 'bnStats') throw new Error('unreachable');
    for (const layer of stats.layers) {
      expect(layer.meanShift).toBe(0);
      expect(layer.logVarRatio).toBe(0);
      expect(layer.gammaChange).toBe(0);
    }
  });

  it('a resumed run ends with the same weights and metrics as an uninterrupted one', async () => {
    const whole = await train('whole');
    const controller = new AbortController();
    await expect(
      train('interrupted', {}, { signal: controller.signal, onEvent: (e) => e.type === 'checkpoint' && controller.abort() }),
    ).rejects.toThrow(/stopped/);
    const resumed = await train('interrupted', {}, { resume: true });
    expect(resumed.summary.valAccuracy).toBe(whole.summary.valAccuracy);
    expect(resumed.summary.valLoss).toBeCloseTo(whole.summary.valLoss, 6);
    const a = (await loadCheckpoint(whole.summary.checkpointDir)).model.getWeights();
    const b = (await loadCheckpoint(resumed.summary.checkpointDir)).model.getWeights();
    expect(a.length).toBe(b.length);
    a.forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(b[i].dataSync())));
  });

  it('stops with a clear message when the loss is not finite, and writes no checkpoint of broken weights', async () => {
    // A backbone whose first kernel holds NaN: every forward pass, hence the loss, is NaN.
    const poisoned = path.join(work, 'poisoned');
    const model = await tf.loadLayersModel(diskHandler(path.join(backboneDir, 'model.json')));
    const conv = model.getLayer('conv0');
    const kernel = conv.getWeights()[0].arraySync() as number[][][][];
    kernel[0][0][0][0] = NaN;
    conv.setWeights([tf.tensor(kernel)]);
    await writeLayersModel(poisoned, model);
    fs.copyFileSync(path.join(backboneDir, 'backbone.json'), path.join(poisoned, 'backbone.json'));
    await expect(train('diverge', { backbone: poisoned, policy: 'freeze-all' })).rejects.toThrow(/loss became NaN at step 1 .*training diverged\. No checkpoint was written\. Lower optimizer\.lr/);
    expect(fs.existsSync(path.join(config.checkpointsDir, 'diverge', 'model.json'))).toBe(false);
  });

  it('refuses batch size 1 with training-mode BN, with an explanation', async () => {
    await expect(train('tiny', { batchSize: 1, policy: 'train-bn' })).rejects.toThrow(/per-image statistics.*--allow-tiny-batch/);
    // the override does not lift the single-value refusal of a BN layer after pooling
    await expect(train('tiny-allowed', { batchSize: 1, policy: 'train-bn', allowTinyBatch: true })).rejects.toThrow(/one value per channel/);
  });

  it('reduce on plateau halves the learning rate of the following epochs and says so', async () => {
    const { events } = await train('plateau', { epochs: 3, optimizer: { type: 'adam', lr: 0.002 }, reduceOnPlateau: { patience: 1, factor: 0.5, minDelta: 100, minLr: 0 } });
    const lrOf = (epoch: number) => events.find((e) => e.type === 'stepEnd' && e.epoch === epoch)!;
    expect((lrOf(0) as { lr: number }).lr).toBeCloseTo(0.002, 12);
    expect((lrOf(1) as { lr: number }).lr).toBeCloseTo(0.002, 12); // epoch 0 set the best, epoch 1 is the first flat one
    expect((lrOf(2) as { lr: number }).lr).toBeCloseTo(0.001, 12);
    expect(events.some((e) => e.type === 'log' && e.code === 'reduce-on-plateau')).toBe(true);
  });

  it('early stopping ends the run on a val-loss plateau and says so; the summary records it', async () => {
    const { summary, events } = await train('early', { epochs: 4, earlyStopping: { patience: 1, minDelta: 100 } });
    expect(summary.epochs).toBe(2);
    expect(summary.stoppedEarly).toMatchObject({ epoch: 1 });
    expect(events.filter((e) => e.type === 'epochEnd')).toHaveLength(2);
    expect(events.some((e) => e.type === 'log' && e.code === 'early-stopping')).toBe(true);
  });

  it('drops a last partial batch of one image and says so', async () => {
    const { events } = await train('odd', { batchSize: 31, epochs: 1 });
    const warning = events.find((e) => e.type === 'log' && /last partial batch \(1 image\) is dropped/.test(e.message));
    expect(warning).toBeDefined();
  });
});
