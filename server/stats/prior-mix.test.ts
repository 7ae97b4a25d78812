import { describe, expect, it } from 'vitest';
import { mixWithPrior } from './prior-mix.ts';

// Expected values: tools/reference/adapt-statistics.py (numpy, float64), keys mix_16_48 and mix_0_10.
const source = { mean: Float32Array.from([0.5, -1, 2]), variance: Float32Array.from([1, 4, 0.25]) };
const target = { mean: Float32Array.from([1.5, 0, -2]), variance: Float32Array.from([2, 1, 0.5]) };

describe('mixWithPrior (Schneider et al. 2020, Eq. 2)', () => {
  it('weights the source by N/(N+n) and mixes the variances linearly', () => {
    const mixed = mixWithPrior(source, target, 16, 48);
    expect(Array.from(mixed.mean)).toEqual([1.25, -0.25, -1]);
    expect(Array.from(mixed.variance)).toEqual([1.75, 1.75, 0.4375]);
  });

  it('N = 0 gives the target statistics; a huge N the source ones', () => {
    const none = mixWithPrior(source, target, 0, 10);
    expect(Array.from(none.mean)).toEqual([1.5, 0, -2]);
    expect(Array.from(none.variance)).toEqual([2, 1, 0.5]);
    const huge = mixWithPrior(source, target, 1e12, 10);
    for (let c = 0; c < 3; c++) {
      expect(huge.mean[c]).toBeCloseTo(source.mean[c], 6);
      expect(huge.variance[c]).toBeCloseTo(source.variance[c], 6);
    }
  });

  it('refuses a negative prior, an empty target and mismatched channels', () => {
    expect(() => mixWithPrior(source, target, -1, 10)).toThrow(/prior sample size N must be a finite number >= 0, got -1/);
    expect(() => mixWithPrior(source, target, 4, 0)).toThrow(/target sample size n must be > 0/);
    expect(() => mixWithPrior(source, { mean: new Float32Array(2), variance: new Float32Array(2) }, 4, 10)).toThrow(/3 channels, target 2/);
  });
});
