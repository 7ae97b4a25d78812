import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_THRESHOLDS, inspectBatchNorm, recommendPolicy } from './inspect.ts';
import { bnDrift, readBnState, snapshotBn } from './drift.ts';
import { recalibrateBatchNorm } from './population.ts';
import { sliceBatches } from '../../test/support/shared-fixtures.ts';
import { directMoments } from '../../test/support/reference-moments.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** conv -> BN -> relu -> conv -> BN with default (mean 0, variance 1) running statistics. */
function buildModel(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 3] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'c1', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 5, kernelSize: 1, name: 'c2', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn2' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x });
}

/** Images whose conv features are far from mean 0 / variance 1. */
function shiftedImages(n: number, seed: number): tf.Tensor4D {
  return tf.randomNormal([n, 6, 6, 3], 3, 4, 'float32', seed) as tf.Tensor4D;
}

describe('inspectBatchNorm', () => {
  it('reports drift of the data statistics from the running ones without modifying the model', async () => {
    const model = buildModel();
    const images = shiftedImages(10, 1);
    const before = snapshotBn(model);
    const tensorsBefore = tf.memory().numTensors;
    const report = await inspectBatchNorm(model, sliceBatches(images, 4), { previewChannels: 2 });
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(snapshotBn(model)).toEqual(before);

    expect(report.images).toBe(10);
    expect(report.layers.map((l) => l.layer)).toEqual(['bn1', 'bn2']);
    const bn1 = report.layers[0];
    expect(bn1.channels).toBe(4);
    expect(bn1.count).toBe(10 * 6 * 6);
    expect(bn1.dataMean).toHaveLength(2);
    expect(bn1.runningVariance).toEqual([1, 1]);

    // bn1's input is c1(images); its drift against (0, 1) follows the drift.ts formulas.
    const direct = tf.tidy(() => directMoments(model.getLayer('c1').apply(images) as tf.Tensor));
    const expected = bnDrift({ ...direct, gamma: null, beta: null }, { ...readBnState(model.getLayer('bn1')), gamma: null, beta: null }, 1e-3);
    expect(bn1.meanShift).toBeCloseTo(expected.meanShift, 4);
    expect(bn1.logVarRatio).toBeCloseTo(expected.logVarRatio, 4);
    expect(bn1.symmetricKl).toBeCloseTo(expected.symmetricKl, 3);
    expect(bn1.dataMean[0]).toBeCloseTo(direct.mean[0], 4);

    const byKl = [...report.layers].sort((a, b) => b.symmetricKl - a.symmetricKl).map((l) => l.layer);
    expect(report.ranking).toEqual(byKl);
    expect(report.recommendation.policy).toBe('adabn');
    expect(report.recommendation.reason).toMatch(/only 10 training images/);
    images.dispose();
  });

  it('recommends freeze-all when the running statistics already describe the data', async () => {
    const model = buildModel();
    const images = shiftedImages(12, 2);
    await recalibrateBatchNorm(model, sliceBatches(images, 12));
    const report = await inspectBatchNorm(model, sliceBatches(images, 5));
    for (const layer of report.layers) {
      expect(layer.meanShift).toBeLessThan(1e-3);
      expect(layer.logVarRatio).toBeLessThan(1e-3);
    }
    expect(report.recommendation.policy).toBe('freeze-all');
    expect(report.lint.map((f) => f.code)).toEqual(['bias-before-bn']);
    images.dispose();
  });

  it('recommends train-bn for shifted data with enough images and a reasonable batch', async () => {
    const images = shiftedImages(6, 3);
    const report = await inspectBatchNorm(buildModel(), sliceBatches(images, 3), { trainCount: 2000, batchSize: 16 });
    expect(report.recommendation.policy).toBe('train-bn');
    expect(report.lint.map((f) => f.code)).not.toContain('tiny-batch');
    images.dispose();
  });

  it('reports conv layers whose bias feeds straight into BN', async () => {
    const images = shiftedImages(4, 5);
    const report = await inspectBatchNorm(buildModel(), sliceBatches(images, 2));
    const finding = report.lint.find((f) => f.code === 'bias-before-bn');
    expect(finding?.layers).toEqual(['c1', 'c2']);
    expect(finding?.message).toMatch(/c1 -> bn1/);
    images.dispose();
  });

  it("passes precomputed findings through and adds 'tiny-batch' when the policy trains BN with batch < 8", async () => {
    const images = shiftedImages(4, 4);
    const findings = [{ code: 'bias-before-bn', message: 'c1 has a bias feeding bn1', layers: ['c1'] }];
    const report = await inspectBatchNorm(buildModel(), sliceBatches(images, 2), { batchSize: 4, policyTrainsBn: true, findings });
    expect(report.lint.map((f) => f.code)).toEqual(['bias-before-bn', 'tiny-batch']);
    expect(report.lint[1].message).toMatch(/batch size 4/);
    const frozen = await inspectBatchNorm(buildModel(), sliceBatches(images, 2), { batchSize: 4, policyTrainsBn: false, findings });
    expect(frozen.lint.map((f) => f.code)).toEqual(['bias-before-bn']);
    images.dispose();
  });
});

describe('recommendPolicy', () => {
  const t = DEFAULT_THRESHOLDS;
  it('follows the documented rule', () => {
    expect(recommendPolicy({ medianMeanShift: 0.1, medianLogVarRatio: 0.1 }, 10_000, 32).policy).toBe('freeze-all');
    expect(recommendPolicy({ medianMeanShift: t.medianMeanShift + 0.01, medianLogVarRatio: 0 }, 100, 32).policy).toBe('adabn');
    expect(recommendPolicy({ medianMeanShift: 0, medianLogVarRatio: t.medianLogVarRatio + 0.01 }, 100, 32).policy).toBe('adabn');
    expect(recommendPolicy({ medianMeanShift: 1, medianLogVarRatio: 1 }, t.minImagesToTrainBn, 32).policy).toBe('train-bn');
    const smallBatch = recommendPolicy({ medianMeanShift: 1, medianLogVarRatio: 1 }, 10_000, 4);
    expect(smallBatch.policy).toBe('adabn');
    expect(smallBatch.reason).toMatch(/batch size 4/);
  });
});
