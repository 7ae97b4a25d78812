import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { leafLayers } from '../model/layers.ts';
import { onePassSteps, TentBatchSizeError, tentAdapt } from './tent.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** conv -> BN -> relu -> conv -> BN -> relu -> GAP -> dropout -> dense softmax, seeded. */
function tinyClassifier(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const input = tf.input({ shape: [6, 6, 3] });
  let x = tf.layers.conv2d({ name: 'conv_a', filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: init(1) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn_a' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ name: 'conv_b', filters: 5, kernelSize: 3, strides: 2, kernelInitializer: init(2) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn_b' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dropout({ name: 'drop', rate: 0.5, seed: 3 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ name: 'head', units: 3, activation: 'softmax', kernelInitializer: init(4) }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: x });
  // source statistics far from the data, so that the layers see a shift
  model.getLayer('bn_a').setWeights([tf.ones([4]), tf.zeros([4]), tf.fill([4], 2), tf.fill([4], 5)]);
  return model;
}

const batch = () => tf.randomNormal([8, 6, 6, 3], 0.3, 1.5, 'float32', 11) as tf.Tensor4D;
async function* repeat(make: () => tf.Tensor4D, times: number) {
  for (let i = 0; i < times; i++) yield make();
}

function weightsByName(model: tf.LayersModel): Map<string, Float32Array> {
  return new Map(model.weights.map((w) => [w.originalName, new Float32Array(w.read().dataSync())]));
}

describe('tentAdapt', () => {
  it('changes BN gamma/beta and nothing else: every other weight, the moving statistics and the head stay bit-identical', async () => {
    const model = tinyClassifier();
    const trainableBefore = leafLayers(model).map((l) => l.trainable);
    const before = weightsByName(model);
    const tensors = tf.memory().numTensors;
    const result = await tentAdapt(model, repeat(batch, 5), { lr: 0.01 });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(result.steps).toBe(5);
    expect(result.layers.sort()).toEqual(['bn_a', 'bn_b']);
    const after = weightsByName(model);
    const changed = [...before.keys()].filter((name) => !Buffer.from(before.get(name)!.buffer).equals(Buffer.from(after.get(name)!.buffer)));
    expect(changed.sort()).toEqual(['bn_a/beta', 'bn_a/gamma', 'bn_b/beta', 'bn_b/gamma']);
    // restored: trainable flags, dropout rate
    expect(leafLayers(model).map((l) => l.trainable)).toEqual(trainableBefore);
    expect((model.getLayer('drop') as unknown as { rate: number }).rate).toBe(0.5);
  });

  it('lowers the mean prediction entropy of the batches it adapts on', async () => {
    const model = tinyClassifier();
    // the same batch every step: entropies[k] is its entropy (BN on batch statistics) after k updates
    const result = await tentAdapt(model, repeat(batch, 30), { lr: 0.02 });
    expect(result.entropies[0]).toBeGreaterThan(0.5);
    expect(result.entropies[29]).toBeLessThan(result.entropies[0] * 0.8);
    for (let k = 1; k < 30; k++) expect(result.entropies[k]).toBeLessThan(result.entropies[k - 1] + 1e-6);
  });

  it('is deterministic: the same batches give the same gamma/beta', async () => {
    const a = tinyClassifier();
    const b = tinyClassifier();
    await tentAdapt(a, repeat(batch, 3));
    await tentAdapt(b, repeat(batch, 3));
    expect(Array.from(a.getLayer('bn_b').getWeights()[0].dataSync())).toEqual(Array.from(b.getLayer('bn_b').getWeights()[0].dataSync()));
  });

  it('refuses a batch of one image and still restores the model', async () => {
    const model = tinyClassifier();
    const before = weightsByName(model);
    await expect(tentAdapt(model, repeat(() => tf.zeros([1, 6, 6, 3]) as tf.Tensor4D, 1))).rejects.toThrow(TentBatchSizeError);
    await expect(tentAdapt(model, repeat(() => tf.zeros([1, 6, 6, 3]) as tf.Tensor4D, 1))).rejects.toThrow(/--batch-size 2 or more/);
    const after = weightsByName(model);
    for (const [name, value] of before) expect(Array.from(after.get(name)!)).toEqual(Array.from(value));
  });

  it('one pass: full batches plus a last one of at least two images', () => {
    expect(onePassSteps(153, 32)).toBe(5);
    expect(onePassSteps(129, 32)).toBe(4);
    expect(onePassSteps(130, 32)).toBe(5);
  });
});
