import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { adaptStatistics } from './target-statistics.ts';
import { readBnState } from './drift.ts';
import { sliceBatches } from './population.ts';
import { expectClose } from '../../test/support/reference-moments.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/**
 * The network of tools/reference/adapt-statistics.py: input [4, 4, 2] -> BN a -> 1x1 conv with
 * kernel K (no bias) -> BN b, source statistics and gamma/beta as there.
 */
function tinyNet(): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 2] });
  let x = tf.layers.batchNormalization({ name: 'bn_a', epsilon: 1e-3 }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ name: 'mix', filters: 3, kernelSize: 1, useBias: false }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn_b', epsilon: 1e-3 }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: x });
  model.getLayer('bn_a').setWeights([tf.tensor1d([1.5, 0.5]), tf.tensor1d([0.1, -0.2]), tf.tensor1d([2, -1]), tf.tensor1d([3, 0.5])]);
  model.getLayer('mix').setWeights([tf.tensor4d([1, -0.5, 0.25, 0.5, 2, -1], [1, 1, 2, 3])]);
  model.getLayer('bn_b').setWeights([tf.tensor1d([1, 1, 1]), tf.tensor1d([0, 0, 0]), tf.tensor1d([0.3, 0, -0.4]), tf.tensor1d([1, 2, 0.7])]);
  return model;
}

/** x[i,h,w,c] = sin(1.3 i + 0.7 h + 0.3 w + 1.1 c) * (c + 1) + 0.5 c, as in the reference script. */
function data(n: number): tf.Tensor4D {
  const values: number[] = [];
  for (let i = 0; i < n; i++) for (let h = 0; h < 4; h++) for (let w = 0; w < 4; w++) for (let c = 0; c < 2; c++) values.push(Math.sin(1.3 * i + 0.7 * h + 0.3 * w + 1.1 * c) * (c + 1) + 0.5 * c);
  return tf.tensor4d(values, [n, 4, 4, 2]);
}

// tools/reference/adapt-statistics.py, keys target_only and prior_3 (numpy, float64)
const REFERENCE = {
  targetOnly: {
    bn_a: { mean: [0.019856873179239332, 0.5428770322939236], variance: [0.5003818169963903, 2.0032965222495642] },
    bn_b: { mean: [7.494005416219807e-17, -0.4500000000000002, 0.2250000000000001], variance: [2.6501054050211676, 0.876630800440028, 0.219157700110007] },
  },
  prior3: {
    bn_a: { mean: [0.7624105457370246, -0.03570185481629773], variance: [1.437738635622744, 1.4395603264059775] },
    bn_b: { mean: [-0.39255316137457724, 0.31022170935545945, -0.30511085467772975], variance: [1.067296640242792, 1.443634065306726, 0.4359085163266815] },
  },
};

function expectLayer(model: tf.LayersModel, name: 'bn_a' | 'bn_b', expected: { mean: number[]; variance: number[] }) {
  const state = readBnState(model.getLayer(name));
  expectClose(state.mean, Float32Array.from(expected.mean), 1e-5, 1e-6);
  expectClose(state.variance, Float32Array.from(expected.variance), 1e-5, 1e-6);
}

describe('adaptStatistics', () => {
  it('without a prior writes the exact population statistics of the target data, layer after layer', async () => {
    const model = tinyNet();
    const images = data(5);
    const result = await adaptStatistics(model, sliceBatches(images, 2));
    expect(result.images).toBe(5);
    expect(result.sourceWeight).toBe(0);
    expectLayer(model, 'bn_a', REFERENCE.targetOnly.bn_a);
    expectLayer(model, 'bn_b', REFERENCE.targetOnly.bn_b);
    expect(Array.from(readBnState(model.getLayer('bn_a')).gamma!)).toEqual([1.5, 0.5]);
    images.dispose();
  });

  it('with prior N mixes each layer with its source statistics, downstream layers measured after the mix', async () => {
    const model = tinyNet();
    const images = data(5);
    const result = await adaptStatistics(model, sliceBatches(images, 3), { priorN: 3 });
    expect(result.images).toBe(5);
    expect(result.sourceWeight).toBeCloseTo(3 / 8, 12);
    expectLayer(model, 'bn_a', REFERENCE.prior3.bn_a);
    expectLayer(model, 'bn_b', REFERENCE.prior3.bn_b);
    expectClose(result.layers.get('bn_b')!.mean, Float32Array.from(REFERENCE.prior3.bn_b.mean), 1e-5, 1e-6);
    images.dispose();
  });

  it('does not depend on the batch size and leaks no tensors', async () => {
    const images = data(5);
    const a = tinyNet();
    const b = tinyNet();
    const before = tf.memory().numTensors;
    await adaptStatistics(a, sliceBatches(images, 1), { priorN: 3 });
    await adaptStatistics(b, sliceBatches(images, 5), { priorN: 3 });
    expect(tf.memory().numTensors).toBe(before);
    expectClose(readBnState(a.getLayer('bn_b')).variance, readBnState(b.getLayer('bn_b')).variance, 1e-5, 1e-6);
    images.dispose();
  });

  it('refuses a negative prior', async () => {
    const images = data(2);
    await expect(adaptStatistics(tinyNet(), sliceBatches(images, 2), { priorN: -2 })).rejects.toThrow(/prior N must be a finite number >= 0, got -2/);
    images.dispose();
  });
});
