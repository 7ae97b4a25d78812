import { describe, expect, it } from 'vitest';
import { median, repeat } from './timing.ts';

describe('median', () => {
  it('takes the middle value, or the mean of the middle two', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('repeat', () => {
  it('runs the warmup untimed, then stops at the iteration count', async () => {
    let calls = 0;
    const times = await repeat({ warmup: 2, iterations: 4, minIterations: 1, budgetMs: 1e9 }, async () => ++calls);
    expect(calls).toBe(6);
    expect(times).toEqual([3, 4, 5, 6]);
  });

  it('stops early on the time budget, but never before minIterations', async () => {
    const times = await repeat({ warmup: 0, iterations: 10, minIterations: 3, budgetMs: 100 }, async () => 80);
    expect(times).toHaveLength(3);
    const quick = await repeat({ warmup: 0, iterations: 10, minIterations: 1, budgetMs: 100 }, async () => 80);
    expect(quick).toHaveLength(2);
  });
});
