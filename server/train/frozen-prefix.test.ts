/**
 * The frozen prefix computed once (or kept off the gradient tape) changes nothing a run reports:
 * every training loss, accuracy, BN drift event and validation figure is identical to the run
 * that pushes every batch through the whole model (BNLAB_FROZEN_PREFIX=0), with the same seed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { selectBackend } from '../engine/backend.ts';
import { type RunEvent } from '../schema/events.ts';
import { parseRecipe, type AugmentConfig, type RecipeInput } from '../schema/recipe.ts';
import { buildClassifier } from '../backbones/head.ts';
import { loadBackbone } from '../backbones/load.ts';
import { ImageDataset } from '../data/dataset.ts';
import { scanImageFolder } from '../data/scan.ts';
import { useLeanTraining } from '../engine/ops/lean-training.ts';
import { applyPlan } from './apply-plan.ts';
import { BnController } from './bn-control.ts';
import { describeLayers } from '../policies/plan.ts';
import { resolvePolicy } from '../policies/index.ts';
import { createOptimizer } from './optimizer.ts';
import { clearFrozenPrefixCache, prepareTrainingSource } from './frozen-prefix.ts';
import { runTraining } from './loop.ts';
import { CLASS_COLOURS, writeImageFolder, writeTinyBackbone } from '../../test/support/reliability-fixtures.ts';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-frozen-'));
const config = { ...loadConfig(), checkpointsDir: path.join(work, 'checkpoints') };
const backboneDir = path.join(work, 'backbone');
const dataDir = path.join(work, 'images');
const OFF: AugmentConfig = { randomResizedCrop: false, scale: [0.35, 1], horizontalFlip: false };
const ON: AugmentConfig = { randomResizedCrop: true, scale: [0.6, 1], horizontalFlip: true };

/** 14 images a class at 24x20, plus one undecodable file, which both paths must skip alike. */
async function writeImages(root: string) {
  await writeImageFolder(root, 14, CLASS_COLOURS, { width: 24, height: 20 });
  fs.writeFileSync(path.join(root, 'warm', 'broken.png'), 'not an image');
}

let runs = 0;
async function train(overrides: Partial<RecipeInput>, frozenPrefix: boolean) {
  const events: RunEvent[] = [];
  const previous = process.env.BNLAB_FROZEN_PREFIX;
  process.env.BNLAB_FROZEN_PREFIX = frozenPrefix ? '1' : '0';
  try {
    const recipe = parseRecipe({ backbone: backboneDir, data: dataDir, epochs: 2, batchSize: 6, seed: 4, logEvery: 3, augment: OFF, ...overrides });
    await runTraining(recipe, { runId: `run${runs++}`, config, backend: process.env.BNLAB_TEST_BACKEND ?? 'wasm', onEvent: (e) => events.push(e) });
  } finally {
    if (previous === undefined) delete process.env.BNLAB_FROZEN_PREFIX;
    else process.env.BNLAB_FROZEN_PREFIX = previous;
  }
  return events;
}

/** What a run reports, without timings, ids and log lines. */
function outcome(events: RunEvent[]) {
  return events
    .filter((e) => e.type === 'stepEnd' || e.type === 'epochEnd' || e.type === 'bnStats')
    .map((e) => {
      const { runId: _runId, ...rest } = e as RunEvent & { runId: string; msPerImage?: number };
      if ('msPerImage' in rest) delete rest.msPerImage;
      return rest;
    });
}

/**
 * Cached runs report exactly what the reference reports, except the drift `batchGap` of frozen
 * prefix layers, which comes from per-image means averaged in float64 (frozen-prefix.ts): equal to
 * float32 rounding.
 */
function expectSameOutcome(cached: RunEvent[], reference: RunEvent[]) {
  const split = (events: RunEvent[]) => {
    const gaps: Array<number | null> = [];
    const rest = outcome(events).map((e) =>
      e.type !== 'bnStats' ? e : { ...e, layers: e.layers.map(({ batchGap, ...layer }) => (gaps.push(batchGap), layer)) },
    );
    return { rest, gaps };
  };
  const [got, want] = [split(cached), split(reference)];
  expect(got.rest).toEqual(want.rest);
  expect(want.gaps.some((g) => g !== null && g > 0)).toBe(true); // capture steps happened
  expect(got.gaps.length).toBe(want.gaps.length);
  got.gaps.forEach((g, i) => {
    const r = want.gaps[i]!;
    if (r === null || g === null) expect(g).toBe(r);
    else expect(Math.abs(g - r)).toBeLessThanOrEqual(1e-5 * Math.abs(r) + 1e-7);
  });
}

function prefixNote(events: RunEvent[]): string | undefined {
  const line = events.find((e) => e.type === 'log' && e.code === 'frozen-prefix');
  return line?.type === 'log' ? line.message : undefined;
}

describe('frozen prefix', () => {
  beforeAll(async () => {
    await selectBackend(process.env.BNLAB_TEST_BACKEND ?? 'wasm');
    await writeTinyBackbone(backboneDir);
    await writeImages(dataDir);
  });
  afterEach(() => clearFrozenPrefixCache());

  it.each<[string, Partial<RecipeInput>]>([
    ['freeze-all', {}],
    ['adabn', {}],
    ['unfreeze-last:1', {}],
    ['freeze-all', { head: { hidden: [5], dropout: 0.3 } }],
  ])('%s %j, augmentation off: cached prefix, identical losses, drift and validation', async (policy, extra) => {
    const reference = await train({ policy, ...extra }, false);
    const cached = await train({ policy, ...extra }, true);
    expect(prefixNote(reference)).toMatch(/frozen prefix off/);
    expect(prefixNote(cached)).toMatch(/computed once per image/);
    const steps = outcome(reference).filter((e) => e.type === 'stepEnd');
    expect(steps.length).toBeGreaterThan(3);
    expectSameOutcome(cached, reference);
  });

  it('reuses the cached values in a later run of the process with the same prefix', async () => {
    const first = await train({ policy: 'freeze-all', seed: 1 }, true);
    const second = await train({ policy: 'freeze-all', seed: 2 }, true);
    expect(prefixNote(first)).toMatch(/ 0 reused/);
    expect(prefixNote(second)).toMatch(/; 0 computed in/);
    const reference = await train({ policy: 'freeze-all', seed: 2 }, false);
    expectSameOutcome(second, reference);
  });

  it('writes a remembered AdaBN recalibration again in a later run with the same backbone and images, with identical results', async () => {
    const first = await train({ policy: 'adabn', seed: 1 }, true);
    const second = await train({ policy: 'adabn', seed: 1 }, true);
    const reusedLog = (events: RunEvent[]) => events.some((e) => e.type === 'log' && e.code === 'recalibration-reused');
    expect(reusedLog(first)).toBe(false);
    expect(reusedLog(second)).toBe(true);
    const reference = await train({ policy: 'adabn', seed: 1 }, false);
    expect(reusedLog(reference)).toBe(false);
    expectSameOutcome(second, reference);
    expectSameOutcome(first, reference);
  });

  it('spills the cached values to disk past BNLAB_FEATURE_CACHE_MB, with identical results', async () => {
    process.env.BNLAB_FEATURE_CACHE_MB = '0';
    try {
      const cached = await train({ policy: 'adabn' }, true);
      expect(prefixNote(cached)).toMatch(/0\.0 MiB in memory of 0\.0 MiB BNLAB_FEATURE_CACHE_MB, 0\.0 MiB spilled to disk/);
      expectSameOutcome(cached, await train({ policy: 'adabn' }, false));
    } finally {
      delete process.env.BNLAB_FEATURE_CACHE_MB;
    }
  });

  it.each<[string, AugmentConfig, RegExp]>([
    ['freeze-all', ON, /augmentation is on/],
    ['bn-stats-only', OFF, /training mode/],
  ])('%s with %j: recomputed outside the tape, says why, identical results', async (policy, augment, why) => {
    const reference = await train({ policy, augment }, false);
    const split = await train({ policy, augment }, true);
    expect(prefixNote(split)).toMatch(why);
    expect(outcome(split)).toEqual(outcome(reference));
  });
});

/**
 * Kernels that compute gradients of convolutions, BN or activations on image tensors (rank 4):
 * backbone backprop. (The loss clips [batch, classes] probabilities, whose gradient is a Grad kernel too.)
 */
const BACKBONE_GRADIENT = /Backprop|Grad/;
const onImages = (kernel: { inputShapes: number[][] }) => kernel.inputShapes.some((shape) => shape?.length === 4);

describe('no backward pass into a backbone where nothing trains', () => {
  beforeAll(async () => {
    await selectBackend(process.env.BNLAB_TEST_BACKEND ?? 'wasm');
    if (!fs.existsSync(backboneDir)) await writeTinyBackbone(backboneDir);
    if (!fs.existsSync(dataDir)) await writeImages(dataDir);
  });
  afterEach(() => clearFrozenPrefixCache());

  /** The kernels one training step of `policy` runs, through the source runTraining would use. */
  async function stepKernels(policy: string, augment: AugmentConfig, frozenPrefix: boolean) {
    const backbone = await loadBackbone(backboneDir, config);
    const { model, headLayerNames } = buildClassifier(backbone, 2, { hidden: [], dropout: 0 }, 0);
    const bn = new BnController(model);
    useLeanTraining(model);
    const variables = applyPlan(model, resolvePolicy(policy, describeLayers(model, headLayerNames)), bn, null);
    const split = await scanImageFolder(dataDir, { valFraction: 0.2, seed: 0 });
    const train = new ImageDataset({ items: split.train, imageSize: 16, preprocessing: 'minus1to1', augment });
    const source = await prepareTrainingSource({ model, bn, train, augment, inputSize: 16, numClasses: 2, batchSize: 6, env: { BNLAB_FROZEN_PREFIX: frozenPrefix ? '1' : '0' } });
    const optimizer = createOptimizer({ type: 'adam', lr: 1e-3, momentum: 0.9, schedule: 'constant', stepEvery: 1 });
    const batches = source.batches({ batchSize: 6, shuffle: true, seed: 0, epoch: 0 })[Symbol.asyncIterator]();
    const batch = (await batches.next()).value!;
    await batches.return?.(undefined);
    const info = await tf.profile(async () => {
      const out = await source.step(optimizer, variables, batch, { capture: false });
      await out.data();
      out.dispose();
    });
    optimizer.dispose();
    model.dispose();
    return { kind: source.kind, gradientKernels: info.kernels.filter((k) => BACKBONE_GRADIENT.test(k.name) && onImages(k)).map((k) => k.name), all: info.kernelNames };
  }

  it.each<[string, AugmentConfig, string]>([
    ['freeze-all', OFF, 'cached-prefix'],
    ['freeze-all', ON, 'split-prefix'],
    ['bn-stats-only', OFF, 'split-prefix'],
  ])('%s (augment %j) runs no convolution, BN or activation gradient kernel', async (policy, augment, kind) => {
    const step = await stepKernels(policy, augment, true);
    expect(step.kind).toBe(kind);
    expect(step.gradientKernels).toEqual([]);
    expect(step.all.some((k) => /MatMul/.test(k))).toBe(true); // the head's forward and gradient did run
    if (kind === 'split-prefix') expect(step.all.some((k) => /Conv2D/.test(k))).toBe(true); // the backbone's forward ran
  });

  it('the check can fail: train-bn computes backbone gradients', async () => {
    const step = await stepKernels('train-bn', OFF, true);
    expect(step.kind).toBe('model');
    expect(step.gradientKernels.length).toBeGreaterThan(0);
  });
});
