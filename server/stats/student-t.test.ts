/**
 * Reference values: `python3 tools/reference/comparison-stats.py` (scipy 1.17.1, scipy.stats.t.ppf
 * and .cdf), keys "t_quantiles" and "t_cdf" of its output, quoted below.
 */
import { describe, expect, it } from 'vitest';
import { studentTCdf, studentTQuantile, studentTTwoSidedP } from './student-t.ts';

const QUANTILES: [p: number, df: number, value: number][] = [
  [0.975, 1, 12.706204736174694],
  [0.975, 2, 4.302652729749462],
  [0.975, 4, 2.7764451051977934],
  [0.975, 9, 2.262157162798205],
  [0.975, 152, 1.97569392781527],
  [0.975, 7.3, 2.345066736547703],
  [0.9, 3.5, 1.5765766051364052],
  [0.025, 4, -2.7764451051977943],
];
const CDF: [t: number, df: number, value: number][] = [
  [0.5, 1, 0.6475836176504333],
  [2.0, 4, 0.9419417382415922],
  [-1.3, 9, 0.11295318633652467],
  [3.1, 17.42, 0.9968187897440348],
  [0.0, 5, 0.5],
];

describe('Student t', () => {
  it.each(QUANTILES)('quantile %s at df %s matches scipy', (p, df, value) => {
    expect(studentTQuantile(p, df)).toBeCloseTo(value, 9);
  });
  it.each(CDF)('cdf at t=%s, df %s matches scipy', (t, df, value) => {
    expect(studentTCdf(t, df)).toBeCloseTo(value, 12);
  });
  it('two-sided p of the 97.5 % quantile is 0.05', () => {
    expect(studentTTwoSidedP(2.7764451051977934, 4)).toBeCloseTo(0.05, 12);
  });
  it('refuses nonsense parameters', () => {
    expect(() => studentTQuantile(1, 3)).toThrow(/quantile level/);
    expect(() => studentTCdf(1, 0)).toThrow(/degrees of freedom/);
  });
});
