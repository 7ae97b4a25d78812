/**
 * Exponential moving average, debiased as TensorBoard's scalar smoothing is:
 *
 *   smoothed_t = (Σ_{i≤t} w^(t−i) x_i) / (Σ_{i≤t} w^(t−i)) = ema_t / (1 − w^t)
 *
 * with ema_t = w·ema_{t−1} + (1−w)·x_t, ema_0 = 0, t counting the points seen (1-based). Without
 * the division the curve would start near 0 and creep up; with it the first point is x_1 itself.
 * Pure, so the chart and its unit test share it. Non-finite inputs are skipped (they neither move
 * the average nor count towards t), and are returned as they came.
 */
export function emaDebiased(values: readonly number[], weight: number): number[] {
  if (!(weight >= 0 && weight < 1)) throw new RangeError(`smoothing weight must be in [0, 1), got ${weight}`);
  if (weight === 0) return [...values];
  const out: number[] = new Array(values.length);
  let ema = 0;
  let seen = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (!Number.isFinite(x)) {
      out[i] = x;
      continue;
    }
    seen += 1;
    ema = weight * ema + (1 - weight) * x;
    out[i] = ema / (1 - weight ** seen);
  }
  return out;
}
