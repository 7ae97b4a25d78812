import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  batchNormInputStatistics,
  meanAbsLogVarianceRatio,
  normalisedMeanShift,
  recomputeBatchNormStatistics,
  storedBatchNormStatistics,
} from './population-bn.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** conv -> BN -> relu -> conv -> BN, seeded; the second BN's input depends on the first BN's statistics. */
function tinyModel(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 2] });
  let x = tf.layers.conv2d({ name: 'c1', filters: 3, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ name: 'c2', filters: 4, kernelSize: 1, useBias: false, kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn2' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x });
}

/** Direct population mean / biased variance over all positions, in float64 in JS. */
function directMoments(t: tf.Tensor): { mean: number[]; variance: number[] } {
  const channels = t.shape[t.shape.length - 1] as number;
  const values = t.dataSync();
  const n = values.length / channels;
  const mean = Array.from({ length: channels }, (_, c) => {
    let s = 0;
    for (let i = c; i < values.length; i += channels) s += values[i];
    return s / n;
  });
  const variance = mean.map((m, c) => {
    let s = 0;
    for (let i = c; i < values.length; i += channels) s += (values[i] - m) ** 2;
    return s / n;
  });
  return { mean, variance };
}

describe('population BN statistics', () => {
  it('recompute writes exact population statistics, layer by layer with upstream recomputed', async () => {
    const model = tinyModel();
    const images = tf.randomNormal([23, 6, 6, 2], 3, 2, 'float32', 5) as tf.Tensor4D; // 23: uneven last batch
    const written = await recomputeBatchNormStatistics(model, images, 5);
    expect(written.map((w) => w.layer)).toEqual(['bn1', 'bn2']);

    const bn1Input = model.getLayer('c1').apply(images) as tf.Tensor;
    const expected1 = directMoments(bn1Input);
    const stored1 = storedBatchNormStatistics(model.getLayer('bn1'));
    expected1.mean.forEach((m, c) => expect(stored1.mean[c]).toBeCloseTo(m, 4));
    expected1.variance.forEach((v, c) => expect(stored1.variance[c]).toBeCloseTo(v, 3));

    // bn2's input computed with bn1 already recalibrated (inference mode uses the new statistics).
    const upstream = tf.model({ inputs: model.inputs, outputs: model.getLayer('bn2').input as tf.SymbolicTensor });
    const expected2 = directMoments(upstream.predict(images) as tf.Tensor);
    const stored2 = storedBatchNormStatistics(model.getLayer('bn2'));
    expected2.mean.forEach((m, c) => expect(stored2.mean[c]).toBeCloseTo(m, 4));
    expected2.variance.forEach((v, c) => expect(stored2.variance[c]).toBeCloseTo(v, 3));

    // After recomputation, inspection on the same data shows no shift.
    const stats = await batchNormInputStatistics(model, images, 7);
    stats.forEach((s, i) => {
      const stored = i === 0 ? stored1 : stored2;
      expect(normalisedMeanShift(s.mean, stored.mean, stored.variance, stored.epsilon)).toBeLessThan(1e-4);
      expect(meanAbsLogVarianceRatio(s.variance, stored.variance, stored.epsilon)).toBeLessThan(1e-4);
    });
  });

  it('a fresh model (mean 0, variance 1) shows the shift of shifted inputs', async () => {
    const model = tinyModel();
    const images = tf.randomNormal([16, 6, 6, 2], 0, 1, 'float32', 6) as tf.Tensor4D;
    const [first] = await batchNormInputStatistics(model, images);
    const stored = storedBatchNormStatistics(model.getLayer('bn1'));
    const direct = directMoments(model.getLayer('c1').apply(images) as tf.Tensor);
    const expectedShift = direct.mean.reduce((a, m) => a + Math.abs(m) / Math.sqrt(1 + stored.epsilon), 0) / direct.mean.length;
    expect(normalisedMeanShift(first.mean, stored.mean, stored.variance, stored.epsilon)).toBeCloseTo(expectedShift, 5);
  });

  it('metric formulas', () => {
    expect(normalisedMeanShift([1, -2], [0, 0], [4, 1], 0)).toBeCloseTo((0.5 + 2) / 2);
    expect(meanAbsLogVarianceRatio([4, 1], [1, 4], 0)).toBeCloseTo(Math.log(4));
  });
});
