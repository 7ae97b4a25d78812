/**
 * The single-walk recalibration (recalibrateBatchNorm) against today's per-layer prefix
 * implementation (recalibrateBatchNormByPrefix), kept as the reference: the written statistics and
 * the model's predictions afterwards must be bit-identical, for sequential, residual (add +
 * concatenate), nested and the demo backbone, and with every held activation spilled to disk.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { loadBackbone } from '../backbones/load.ts';
import { loadConfig } from '../config.ts';
import { DEMO_BACKBONE_DIR } from '../demo/backbone-files.ts';
import { recalibrateBatchNorm, recalibrateBatchNormByPrefix, sliceBatches, type ChannelMoments, type RecalibrationReport } from './population.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });

/** BN states far from the data's, so recalibration changes every layer. */
function perturbBn(model: tf.LayersModel, seed: number) {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const channels = (layer.getWeights()[0] as tf.Tensor).shape[0];
    layer.setWeights([
      tf.randomUniform([channels], 0.5, 1.5, 'float32', seed++),
      tf.randomNormal([channels], 0, 0.2, 'float32', seed++),
      tf.randomNormal([channels], 3, 1, 'float32', seed++),
      tf.randomUniform([channels], 0.1, 5, 'float32', seed++),
    ]);
  }
}

/**
 * MobileNetV2-like: BN on the image input itself, an inverted residual block whose skip is held
 * across two BN layers, a skip from the stem across a concatenate, and a BN after it.
 */
function buildResidual(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3], name: 'image' });
  const inBn = tf.layers.batchNormalization({ name: 'input_bn' }).apply(input) as tf.SymbolicTensor;
  const stem = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, name: 'stem', kernelInitializer: seeded(1) }).apply(inBn) as tf.SymbolicTensor;
  const stemAct = tf.layers.reLU({ maxValue: 6, name: 'stem_relu' }).apply(tf.layers.batchNormalization({ name: 'stem_bn' }).apply(stem)) as tf.SymbolicTensor;
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 1, useBias: false, name: 'expand', kernelInitializer: seeded(2) }).apply(stemAct) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6, name: 'expand_relu' }).apply(tf.layers.batchNormalization({ name: 'expand_bn' }).apply(x)) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, name: 'dw', depthwiseInitializer: seeded(3) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6, name: 'dw_relu' }).apply(tf.layers.batchNormalization({ name: 'dw_bn' }).apply(x)) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 4, kernelSize: 1, useBias: false, name: 'project', kernelInitializer: seeded(4) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'project_bn' }).apply(x) as tf.SymbolicTensor;
  const added = tf.layers.add({ name: 'residual_add' }).apply([stemAct, x]) as tf.SymbolicTensor;
  const joined = tf.layers.concatenate({ name: 'concat' }).apply([added, stem]) as tf.SymbolicTensor;
  let y = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, useBias: false, name: 'tail_conv', kernelInitializer: seeded(5) }).apply(joined) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization({ name: 'tail_bn' }).apply(y) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(y) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: 3, name: 'dense', kernelInitializer: seeded(6) }).apply(pooled) as tf.SymbolicTensor;
  const out = tf.layers.batchNormalization({ name: 'dense_bn' }).apply(dense) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out, name: 'residual' });
  perturbBn(model, 100);
  return model;
}

/** Teachable-Machine-like nesting: Sequential[Sequential[functional, GAP], Sequential[dense, BN]]. */
function buildNested(): tf.LayersModel {
  const innerInput = tf.input({ shape: [5, 5, 3], name: 'inner_input' });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'inner_conv', kernelInitializer: seeded(5) }).apply(innerInput) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'inner_bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'inner_relu' }).apply(x) as tf.SymbolicTensor;
  const inner = tf.model({ inputs: innerInput, outputs: x, name: 'inner' });
  const features = tf.sequential({ name: 'features', layers: [inner, tf.layers.globalAveragePooling2d({ name: 'gap' })] });
  const head = tf.sequential({
    name: 'head',
    layers: [tf.layers.dense({ units: 3, inputShape: [4], name: 'dense', kernelInitializer: seeded(6) }), tf.layers.batchNormalization({ name: 'head_bn' })],
  });
  return tf.sequential({ name: 'outer', layers: [features, head] });
}

/** A functional model applied inside another one, after a stem layer. */
function buildApplied(): tf.LayersModel {
  const innerInput = tf.input({ shape: [6, 6, 2] });
  const inner = tf.model({
    inputs: innerInput,
    outputs: tf.layers.batchNormalization({ name: 'nested_bn' }).apply(tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'nested_conv', kernelInitializer: seeded(9) }).apply(innerInput)) as tf.SymbolicTensor,
    name: 'nested',
  });
  const outerInput = tf.input({ shape: [6, 6, 3] });
  const stem = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'stem', kernelInitializer: seeded(8) });
  const stemBn = tf.layers.batchNormalization({ name: 'stem_bn' });
  return tf.model({ inputs: outerInput, outputs: inner.apply(stemBn.apply(stem.apply(outerInput))) as tf.SymbolicTensor });
}

function expectIdentical(walk: Map<string, ChannelMoments>, prefix: Map<string, ChannelMoments>) {
  expect([...walk.keys()]).toEqual([...prefix.keys()]);
  for (const [name, moments] of prefix) {
    const got = walk.get(name)!;
    expect({ name, count: got.count }).toEqual({ name, count: moments.count });
    expect({ name, mean: Array.from(got.mean) }).toEqual({ name, mean: Array.from(moments.mean) });
    expect({ name, variance: Array.from(got.variance) }).toEqual({ name, variance: Array.from(moments.variance) });
  }
}

/** Recalibrate two identical models, one per implementation; compare statistics and predictions bit for bit. */
async function compareImplementations(build: () => tf.LayersModel, images: tf.Tensor4D, batchSize: number, walkOptions = {}) {
  const reference = build();
  const walked = build();
  const before = tf.memory().numTensors;
  const reports: RecalibrationReport[] = [];
  const walk = await recalibrateBatchNorm(walked, sliceBatches(images, batchSize), { ...walkOptions, onReport: (r) => reports.push(r) });
  expect(tf.memory().numTensors).toBe(before);
  const prefix = await recalibrateBatchNormByPrefix(reference, sliceBatches(images, batchSize));
  expect(reports.map((r) => r.method)).toEqual(['walk']);
  expectIdentical(walk, prefix);
  const [a, b] = [walked.predict(images) as tf.Tensor, reference.predict(images) as tf.Tensor];
  expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
  tf.dispose([a, b]);
  walked.dispose();
  reference.dispose();
  return reports[0];
}

describe('single-walk recalibration equals the per-layer prefix reference, bit for bit', () => {
  it('on a residual model (add, concatenate, BN on the input, a skip held across two BN layers)', async () => {
    const images = tf.randomNormal([11, 8, 8, 3], 0.3, 1.5, 'float32', 1) as tf.Tensor4D;
    await compareImplementations(buildResidual, images, 4);
    images.dispose();
  });

  it('with every held activation spilled to disk (budget 0), and the spill folder removed after', async () => {
    const spillDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-walk-test-'));
    const images = tf.randomNormal([7, 8, 8, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const report = await compareImplementations(buildResidual, images, 3, { memoryBytes: 0, spillDir });
    expect(report.peakMemoryBytes).toBe(0);
    expect(report.peakDiskBytes).toBeGreaterThan(0);
    expect(fs.readdirSync(spillDir)).toEqual([]);
    fs.rmSync(spillDir, { recursive: true });
    images.dispose();
  });

  it('on nested Sequential/functional containers, and a functional model applied inside another', async () => {
    const a = tf.randomNormal([8, 5, 5, 3], 0.5, 2, 'float32', 3) as tf.Tensor4D;
    await compareImplementations(buildNested, a, 3);
    const b = tf.randomNormal([5, 6, 6, 3], 0.5, 2, 'float32', 4) as tf.Tensor4D;
    await compareImplementations(buildApplied, b, 2);
    tf.dispose([a, b]);
  });

  it.skipIf(!fs.existsSync(path.join(DEMO_BACKBONE_DIR, 'model.json')))('on the demo backbone', async () => {
    const load = async () => (await loadBackbone('demo', loadConfig())).model;
    const [first, second] = [await load(), await load()];
    const images = tf.randomUniform([10, 64, 64, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    await compareImplementations(
      (() => {
        const models = [first, second];
        return () => models.shift()!;
      })(),
      images,
      4,
    );
    images.dispose();
  });

  it('falls back to the prefix implementation, and says why, for a graph the walk cannot run', async () => {
    // A container applied twice: its inner tensors stand for two different values.
    const innerInput = tf.input({ shape: [4, 4, 2] });
    const inner = tf.model({ inputs: innerInput, outputs: tf.layers.batchNormalization({ name: 'shared_bn' }).apply(innerInput) as tf.SymbolicTensor });
    const input = tf.input({ shape: [4, 4, 2] });
    const twice = tf.model({ inputs: input, outputs: inner.apply(inner.apply(input)) as tf.SymbolicTensor });
    const images = tf.randomNormal([4, 4, 4, 2], 1, 1, 'float32', 6) as tf.Tensor4D;
    const reports: RecalibrationReport[] = [];
    const written = await recalibrateBatchNorm(twice, sliceBatches(images, 2), { onReport: (r) => reports.push(r) });
    expect(reports).toEqual([expect.objectContaining({ method: 'prefix', reason: expect.stringMatching(/applied more than once/) })]);
    expect([...written.keys()]).toEqual(['shared_bn']);
    images.dispose();
  });
});
