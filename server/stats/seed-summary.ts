/**
 * One policy's metric over run seeds: mean, sample standard deviation (n - 1) and the 95 %
 * Student-t interval mean ± t(0.975, n - 1) · sd / √n, with every per-seed value kept.
 *
 * Why Student t: with the 3–10 seeds a comparison can afford, sd is itself a rough estimate and
 * a normal quantile (1.96) would give intervals that cover too rarely (t(0.975, 4) = 2.78).
 * What the interval covers: seed-to-seed variation (head initialisation, batch order,
 * augmentation) on THIS split's val images. The images themselves are a fixed sample; the
 * uncertainty from that sample enters the paired verdicts (paired-verdict.ts), not this interval.
 * With one seed there is no spread to estimate: sd and the interval are null.
 */
import type { SeedSummary } from '../schema/comparison.ts';
import { studentTQuantile } from './student-t.ts';

export type { SeedSummary };

export function summarizeSeeds(values: number[]): SeedSummary {
  if (values.length === 0) throw new RangeError('summarizeSeeds needs at least one value');
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new RangeError(`seed value ${bad} is ${values[bad]}; every run must finish with a finite metric`);
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean, sd: null, ci95: null, values: [...values] };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const half = studentTQuantile(0.975, n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, ci95: [mean - half, mean + half], values: [...values] };
}
