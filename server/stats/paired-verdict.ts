/**
 * Is policy A better than policy B on this data? A paired test on the SAME val images over the
 * SAME run seeds, whose error accounts for both sources of noise: which seed ran (head
 * initialisation, batch order, augmentation) and which images happen to be in the val split.
 *
 * Data: c^A_si, c^B_si ∈ {0, 1}, image i right for seed s (S seeds × N images, the same images for
 * both). d_si = c^A_si − c^B_si; the accuracy difference is D = mean_si d_si.
 * Model: d_si = μ + α_s + β_i + ε_si (seed effect, image effect, interaction), a two-way crossed
 * design. Variance estimate (moment estimator):
 *   V = var_s(d_s·) / S + var_i(d_·i) / N          (sample variances, n − 1)
 * with d_s· the per-seed accuracy differences and d_·i the per-image differences averaged over
 * seeds. E[V] = σ_α²/S + σ_β²/N + 2σ_ε²/(SN) while Var(D) = σ_α²/S + σ_β²/N + σ_ε²/(SN): V errs
 * on the safe side by σ_ε²/(SN), the same bias as Owen's "pigeonhole" bootstrap for crossed data
 * (A. B. Owen, Ann. Appl. Stat. 1(2), 2007), of which this is the closed form.
 * Test: t = D / √V with Welch–Satterthwaite degrees of freedom
 *   df = V² / ((var_s/S)² / (S − 1) + (var_i/N)² / (N − 1)),
 * 95 % interval D ± t(0.975, df) √V; a winner is named only when the interval excludes 0.
 *
 * Why not the alternatives:
 *  - per-seed McNemar combined (Cochran–Mantel–Haenszel): treats the seeds as fixed strata, so the
 *    seed-to-seed variation, the largest noise here (a 12-point spread over 4 seeds of one
 *    policy), is not in its error, and it names winners that another set of seeds reverses;
 *  - a paired t-test on the S per-seed accuracies alone: treats the 153 val images as the whole
 *    population; with many seeds it calls differences of one image significant;
 *  - a bootstrap over seeds × images: same target as V, but with 5 seeds the resampled seed means
 *    take few values and percentile intervals cover too rarely; the closed form with t(df) is
 *    deterministic and reproducible with numpy/scipy (tools/reference/comparison-stats.py).
 * With one seed the seed term cannot be estimated: the test is then over images only (a paired
 * t-test, close to McNemar's) and `seedVarianceIncluded` is false.
 */
import type { PairedVerdict, Verdict } from '../schema/comparison.ts';
import { studentTQuantile, studentTTwoSidedP } from './student-t.ts';

export type { PairedVerdict, Verdict };

/** Per-image correctness as recorded in a run summary: '1' right, '0' wrong, '-' not scored. */
export function parseCorrectness(bits: string): (0 | 1 | null)[] {
  return [...bits].map((ch, i) => {
    if (ch === '1') return 1;
    if (ch === '0') return 0;
    if (ch === '-') return null;
    throw new Error(`per-image correctness has '${ch}' at position ${i}; expected 0, 1 or -`);
  });
}

/**
 * `a[s][i]`, `b[s][i]`: correctness of image i in the run with seed s (1/0, null = not scored).
 * Seed s of A is paired with seed s of B; images missing from any run are left out of all.
 */
export function pairedVerdict(nameA: string, a: (0 | 1 | null)[][], nameB: string, b: (0 | 1 | null)[][]): PairedVerdict {
  const S = a.length;
  if (S === 0 || b.length !== S) throw new Error(`paired verdict needs the same number of seeds for both policies (${nameA}: ${a.length}, ${nameB}: ${b.length})`);
  const width = a[0]!.length;
  for (const row of [...a, ...b]) {
    if (row.length !== width) throw new Error(`paired verdict needs the same val images in every run (${row.length} vs ${width} images); were the runs on different splits?`);
  }
  const images: number[] = [];
  for (let i = 0; i < width; i++) if (a.every((r) => r[i] !== null) && b.every((r) => r[i] !== null)) images.push(i);
  const N = images.length;
  if (N < 2) throw new Error(`paired verdict needs at least 2 val images scored in every run, got ${N}`);

  const seedMeans = a.map((row, s) => mean(images.map((i) => row[i]! - b[s]![i]!)));
  const imageMeans = images.map((i) => mean(a.map((row, s) => row[i]! - b[s]![i]!)));
  const difference = mean(seedMeans);
  const seedTerm = S > 1 ? sampleVariance(seedMeans) / S : 0;
  const imageTerm = sampleVariance(imageMeans) / N;
  const variance = seedTerm + imageTerm;
  const standardError = Math.sqrt(variance);
  const dfDenominator = (S > 1 ? seedTerm ** 2 / (S - 1) : 0) + imageTerm ** 2 / (N - 1);
  const df = dfDenominator > 0 ? variance ** 2 / dfDenominator : N - 1;

  let t: number;
  let pValue: number;
  let ci95: [number, number];
  if (standardError > 0) {
    t = difference / standardError;
    pValue = studentTTwoSidedP(t, df);
    const half = studentTQuantile(0.975, df) * standardError;
    ci95 = [difference - half, difference + half];
  } else {
    // every d_si is the same number: no noise at all
    t = difference === 0 ? 0 : Math.sign(difference) * Infinity;
    pValue = difference === 0 ? 1 : 0;
    ci95 = [difference, difference];
  }
  const verdict: Verdict = pValue < 0.05 ? (difference > 0 ? 'a-better' : 'b-better') : 'not-distinguishable';
  const text = verdict === 'not-distinguishable' ? 'not distinguishable at 95 %' : `${verdict === 'a-better' ? nameA : nameB} better at 95 %`;
  return { a: nameA, b: nameB, seeds: S, images: N, difference, ci95, standardError, df, t, pValue, seedVarianceIncluded: S > 1, verdict, text };
}

function mean(values: number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

function sampleVariance(values: number[]): number {
  const m = mean(values);
  return values.reduce((sum, v) => sum + (v - m) ** 2, 0) / (values.length - 1);
}
