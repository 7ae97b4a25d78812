import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import {
  biasedVariance,
  bnDrift,
  driftAll,
  bnEpsilons,
  kerasMomentum,
  pytorchMomentum,
  readBnState,
  snapshotBn,
  unbiasedVariance,
  type BnState,
} from './drift.ts';

const f32 = (values: number[]) => Float32Array.from(values);

function state(mean: number[], variance: number[], gamma: number[] | null = null, beta: number[] | null = null): BnState {
  return { mean: f32(mean), variance: f32(variance), gamma: gamma && f32(gamma), beta: beta && f32(beta) };
}

/** KL(N(m1, s1) || N(m2, s2)) in its textbook form (variances s1, s2), independent of drift.ts. */
function klGaussian(m1: number, s1: number, m2: number, s2: number): number {
  return 0.5 * (Math.log(s2 / s1) + (s1 + (m1 - m2) ** 2) / s2 - 1);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('bnDrift', () => {
  it('is zero for identical states', () => {
    const s = state([0.3, -1, 2], [0.5, 2, 1e-7], [1, 2, 3], [0, 0.1, -0.1]);
    const d = bnDrift(s, s, 1e-3, s.mean, 'same');
    expect(d).toEqual({ layer: 'same', meanShift: 0, logVarRatio: 0, symmetricKl: 0, batchGap: 0, gammaChange: 0, betaChange: 0 });
  });

  it('matches hand-computed values (eps = 0)', () => {
    const current = state([1, 0], [4, 1], [2, 1], [0.5, 0.5]);
    const reference = state([0, 0], [1, 1], [1, 1], [0, 0]);
    const d = bnDrift(current, reference, 0, f32([3, 1]));
    // channel 0: |1 - 0| / sqrt(1) = 1; channel 1: 0
    expect(d.meanShift).toBeCloseTo(0.5, 12);
    // channel 0: |log(4 / 1)|; channel 1: 0
    expect(d.logVarRatio).toBeCloseTo(Math.log(4) / 2, 12);
    // channel 0: 0.25 * (4 + 1/4 - 2 + 1 * (1/4 + 1)) = 0.875; channel 1: 0
    expect(d.symmetricKl).toBeCloseTo(0.875 / 2, 12);
    // channel 0: |3 - 1| / sqrt(4) = 1; channel 1: |1 - 0| / sqrt(1) = 1
    expect(d.batchGap).toBeCloseTo(1, 12);
    // sqrt(((2-1)^2 + 0) / 2)
    expect(d.gammaChange).toBeCloseTo(Math.SQRT1_2, 12);
    expect(d.betaChange).toBeCloseTo(0.5, 12);
  });

  it('adds eps to every variance', () => {
    const d = bnDrift(state([1], [0]), state([0], [0]), 0.25);
    expect(d.meanShift).toBeCloseTo(1 / Math.sqrt(0.25), 12);
    expect(d.logVarRatio).toBe(0);
    // equal variances 0.25: 0.25 * d^2 * (1/0.25 + 1/0.25) = 2
    expect(d.symmetricKl).toBeCloseTo(2, 12);
  });

  it('symmetric KL equals the mean of both textbook KLs and does not depend on the order', () => {
    const a = state([0.2, -1.5, 3], [0.7, 2.5, 0.01]);
    const b = state([-0.4, 0.5, 2.9], [1.3, 0.2, 0.05]);
    const eps = 1e-3;
    let expected = 0;
    for (let c = 0; c < 3; c++) {
      const sa = a.variance[c] + eps;
      const sb = b.variance[c] + eps;
      expected += 0.5 * (klGaussian(a.mean[c], sa, b.mean[c], sb) + klGaussian(b.mean[c], sb, a.mean[c], sa));
    }
    expect(bnDrift(a, b, eps).symmetricKl).toBeCloseTo(expected / 3, 5);
    expect(bnDrift(a, b, eps).symmetricKl).toBeCloseTo(bnDrift(b, a, eps).symmetricKl, 12);
    expect(bnDrift(a, b, eps).logVarRatio).toBeCloseTo(bnDrift(b, a, eps).logVarRatio, 12);
  });

  it('gives a null batch gap without a batch mean and 0 gamma/beta change without gamma/beta', () => {
    const d = bnDrift(state([1], [1]), state([0], [1]), 1e-3);
    expect(d.batchGap).toBeNull();
    expect(d.gammaChange).toBe(0);
    expect(d.betaChange).toBe(0);
  });

  it('refuses mismatched channel counts', () => {
    expect(() => bnDrift(state([1, 2], [1, 1]), state([0], [1]), 1e-3, undefined, 'bn')).toThrow(/layer bn/);
    expect(() => bnDrift(state([1], [1]), state([0], [1]), 1e-3, f32([1, 2]))).toThrow(/batch mean/);
    expect(() => bnDrift(state([1], [1], [1]), state([0], [1]), 1e-3)).toThrow(/gamma/);
  });
});

describe('momentum and variance conventions', () => {
  it('converts PyTorch momentum (new-value weight) to Keras momentum (old-value weight)', () => {
    expect(kerasMomentum({ keras: 0.99 })).toBe(0.99);
    expect(kerasMomentum({ pytorch: 0.1 })).toBeCloseTo(0.9, 12);
    expect(pytorchMomentum({ keras: 0.99 })).toBeCloseTo(0.01, 12);
    expect(pytorchMomentum({ pytorch: 0.1 })).toBeCloseTo(0.1, 12);
  });

  it('one EMA step with either convention gives the same running value', () => {
    const running = 2;
    const batch = 5;
    const keras = kerasMomentum({ pytorch: 0.1 });
    expect(running * keras + batch * (1 - keras)).toBeCloseTo(running * (1 - 0.1) + batch * 0.1, 12);
  });

  it('converts between biased and unbiased variance', () => {
    const values = [1, 2, 3, 6];
    const mean = 3;
    const biased = values.reduce((s, v) => s + (v - mean) ** 2, 0) / 4; // 3.5
    const unbiased = values.reduce((s, v) => s + (v - mean) ** 2, 0) / 3; // 14/3
    expect(unbiasedVariance(f32([biased]), 4)[0]).toBeCloseTo(unbiased, 5);
    expect(biasedVariance(f32([unbiased]), 4)[0]).toBeCloseTo(biased, 5);
    expect(() => biasedVariance(f32([1]), 1)).toThrow(/n > 1/);
  });
});

describe('reading BN layers', () => {
  function model(bnArgs: Parameters<typeof tf.layers.batchNormalization>[0] = {}) {
    const input = tf.input({ shape: [4, 4, 3] });
    const conv = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'conv' }).apply(input) as tf.SymbolicTensor;
    const bn = tf.layers.batchNormalization({ name: 'bn', ...bnArgs }).apply(conv) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: bn });
  }

  it('reads moving mean/variance and gamma/beta', () => {
    const m = model();
    m.getLayer('bn').setWeights([tf.tensor1d([2, 3]), tf.tensor1d([-1, 1]), tf.tensor1d([0.5, 0.25]), tf.tensor1d([4, 9])]);
    const s = readBnState(m.getLayer('bn'));
    expect(Array.from(s.gamma!)).toEqual([2, 3]);
    expect(Array.from(s.beta!)).toEqual([-1, 1]);
    expect(Array.from(s.mean)).toEqual([0.5, 0.25]);
    expect(Array.from(s.variance)).toEqual([4, 9]);
    const snap = snapshotBn(m);
    expect([...snap.keys()]).toEqual(['bn']);
    expect(bnEpsilons(m).get('bn')).toBeCloseTo(1e-3, 12);
    const drift = driftAll(snap, snap, bnEpsilons(m));
    expect(drift[0].layer).toBe('bn');
    expect(drift[0].meanShift).toBe(0);
  });

  it('returns null gamma/beta when scale/center are off', () => {
    const s = readBnState(model({ scale: false, center: false }).getLayer('bn'));
    expect(s.gamma).toBeNull();
    expect(s.beta).toBeNull();
    expect(Array.from(s.variance)).toEqual([1, 1]);
  });

  it('refuses a BN layer that normalises a non-channel axis', () => {
    expect(() => readBnState(model({ axis: 1 }).getLayer('bn'))).toThrow(/channel-last/);
  });

  it('refuses a layer that is not BN', () => {
    expect(() => readBnState(model().getLayer('conv'))).toThrow(/not a BatchNormalization/);
  });
});
