import { describe, expect, it } from 'vitest';
import { emaDebiased } from './smoothing.ts';

/** The definition, term by term: Σ w^(t−i) x_i / Σ w^(t−i). */
function direct(values: number[], w: number): number[] {
  return values.map((_, t) => {
    let num = 0;
    let den = 0;
    for (let i = 0; i <= t; i++) {
      num += w ** (t - i) * values[i];
      den += w ** (t - i);
    }
    return num / den;
  });
}

describe('emaDebiased', () => {
  it('equals the weighted mean of the definition', () => {
    const values = [2.3, 1.9, 2.1, 1.2, 0.8, 1.1, 0.4, 0.5, 0.2];
    for (const w of [0.3, 0.6, 0.9, 0.99]) {
      const got = emaDebiased(values, w);
      direct(values, w).forEach((want, i) => expect(got[i]).toBeCloseTo(want, 12));
    }
  });

  it('starts at the first value (debiased) and leaves a constant series unchanged', () => {
    expect(emaDebiased([5, 5, 5], 0.9)).toEqual([5, 5, 5].map((v) => expect.closeTo(v, 12)));
    expect(emaDebiased([3, 7], 0.5)[0]).toBeCloseTo(3, 12);
    // by hand: ema = 0.5*1.5 + 0.5*7 = 4.25; / (1 - 0.25) = 5.666…
    expect(emaDebiased([3, 7], 0.5)[1]).toBeCloseTo(17 / 3, 12);
  });

  it('is the identity at weight 0, skips non-finite points, refuses weights outside [0, 1)', () => {
    expect(emaDebiased([1, 2, 3], 0)).toEqual([1, 2, 3]);
    const got = emaDebiased([1, Number.NaN, 3], 0.5);
    expect(got[1]).toBeNaN();
    expect(got[2]).toBeCloseTo(direct([1, 3], 0.5)[1], 12);
    expect(() => emaDebiased([1], 1)).toThrow(/\[0, 1\)/);
    expect(() => emaDebiased([1], -0.1)).toThrow(RangeError);
  });
});
