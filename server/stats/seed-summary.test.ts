/**
 * Reference values: `python3 tools/reference/comparison-stats.py` (numpy std(ddof=1),
 * scipy.stats.t.interval(0.95, n - 1, loc, scale=sd/sqrt(n)); scipy 1.17.1), key "seed_summary":
 *   five: mean 0.7737999999999999, sd 0.045751502707561426, ci95 [0.7169920062242989, 0.8306079937757009]
 *   two:  mean 0.55, sd 0.07071067811865474, ci95 [-0.08531023680873451, 1.1853102368087347]
 */
import { describe, expect, it } from 'vitest';
import { summarizeSeeds } from './seed-summary.ts';

describe('summarizeSeeds', () => {
  it('five seeds: mean, sample sd and the Student-t interval match scipy', () => {
    const values = [0.719, 0.745, 0.797, 0.837, 0.771];
    const s = summarizeSeeds(values);
    expect(s.n).toBe(5);
    expect(s.mean).toBeCloseTo(0.7737999999999999, 12);
    expect(s.sd!).toBeCloseTo(0.045751502707561426, 12);
    expect(s.ci95![0]).toBeCloseTo(0.7169920062242989, 10);
    expect(s.ci95![1]).toBeCloseTo(0.8306079937757009, 10);
    expect(s.values).toEqual(values);
  });
  it('two seeds: t(0.975, 1) = 12.7 makes the interval wide', () => {
    const s = summarizeSeeds([0.5, 0.6]);
    expect(s.ci95![0]).toBeCloseTo(-0.08531023680873451, 10);
    expect(s.ci95![1]).toBeCloseTo(1.1853102368087347, 10);
  });
  it('one seed has no spread: sd and interval are null', () => {
    expect(summarizeSeeds([0.8])).toEqual({ n: 1, mean: 0.8, sd: null, ci95: null, values: [0.8] });
  });
  it('refuses an empty list and non-finite values', () => {
    expect(() => summarizeSeeds([])).toThrow(/at least one/);
    expect(() => summarizeSeeds([0.7, NaN])).toThrow(/seed value 1 is NaN/);
  });
});
