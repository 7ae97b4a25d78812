/**
 * How the benchmark repeats a measurement: `warmup` untimed runs (JIT, first-use allocations,
 * kernel caches), then timed runs until `iterations` are done or, once at least `minIterations`
 * are, the time budget is spent (so big models stay within a short run's few minutes).
 */
export interface RepeatPolicy {
  warmup: number;
  iterations: number;
  minIterations: number;
  /** stop timing once this many milliseconds of timed runs have passed (and minIterations are done) */
  budgetMs: number;
}

export const SHORT_POLICY: RepeatPolicy = { warmup: 2, iterations: 5, minIterations: 3, budgetMs: 20_000 };
export const FULL_POLICY: RepeatPolicy = { warmup: 3, iterations: 20, minIterations: 5, budgetMs: 90_000 };

/** Median of the values (mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Runs `once` (which returns its own elapsed milliseconds) per the policy; returns the timed values. */
export async function repeat(policy: RepeatPolicy, once: () => Promise<number>): Promise<number[]> {
  for (let i = 0; i < policy.warmup; i++) await once();
  const times: number[] = [];
  let spent = 0;
  while (times.length < policy.iterations && (times.length < policy.minIterations || spent < policy.budgetMs)) {
    const ms = await once();
    times.push(ms);
    spent += ms;
  }
  return times;
}

/** Milliseconds taken by an async function. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}
