/**
 * Comparisons over seeds (issue 10): what `bnlab compare --json` prints and the dashboard shows.
 * Computed by stats/seed-summary.ts and stats/paired-verdict.ts in commands/compare.ts.
 */
import type { RunSummary } from './events.ts';
import type { Recipe } from './recipe.ts';

/** A metric over run seeds (server/stats/seed-summary.ts). */
export interface SeedSummary {
  /** number of seeds */
  n: number;
  mean: number;
  /** sample standard deviation (divides by n - 1); null for n = 1 */
  sd: number | null;
  /** 95 % Student-t interval of the mean over seeds; null for n = 1 */
  ci95: [number, number] | null;
  /** the per-seed values in seed order */
  values: number[];
}

export type Verdict = 'a-better' | 'b-better' | 'not-distinguishable';

/** Paired test of two policies on the same val images over the same seeds (server/stats/paired-verdict.ts). */
export interface PairedVerdict {
  a: string;
  b: string;
  seeds: number;
  /** val images scored in every run of both policies */
  images: number;
  /** accuracy of A minus accuracy of B, averaged over seeds (fraction, not %) */
  difference: number;
  ci95: [number, number];
  standardError: number;
  df: number;
  t: number;
  pValue: number;
  /** false with one seed: the error then covers image sampling only */
  seedVarianceIncluded: boolean;
  verdict: Verdict;
  /** e.g. "freeze-all better at 95 %" or "not distinguishable at 95 %" */
  text: string;
}

/** One policy of a comparison, over its seeds. */
export interface PolicySeedStats {
  policy: string;
  seeds: number[];
  runIds: string[];
  valAccuracy: SeedSummary;
  valLoss: SeedSummary;
  /** null when the policy has no training-mode BN layer */
  valTrainModeAccuracy: SeedSummary | null;
  seconds: SeedSummary;
  totalMeanShift: SeedSummary;
  /** runs flagged "not converged" (server/train/convergence.ts) */
  notConverged: number;
}

export interface ComparisonReport {
  format: 'bnlab-comparison@2';
  comparisonId: string;
  /** the recipe every run shared, apart from policy and seed */
  recipe: Recipe;
  seeds: number[];
  dataSeed: number;
  valImages: number;
  policies: PolicySeedStats[];
  /** every pair of policies, in policy order */
  verdicts: PairedVerdict[];
  runs: RunSummary[];
  wallSeconds: number;
}
