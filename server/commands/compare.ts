/**
 * Several policies on the same data split and recipe, each over the same run seeds, one run after
 * another in this process (decoded images are shared by every run). Which policy wins depends on
 * the data, the head and the training length, and a single seed moves accuracy more than most
 * policy differences: the report gives per policy the mean over seeds with its 95 % interval and
 * every per-seed value, and between policies a paired verdict on the same val images
 * (server/stats/paired-verdict.ts) that names a winner only when the difference is significant.
 * Seeds: run seed k = recipe.seed + k varies head initialisation, batch order and augmentation;
 * the split is fixed by recipe.dataSeed (default recipe.seed) for every run.
 */
import type { BnlabConfig } from '../config.ts';
import { DecodedImageCache } from '../data/dataset.ts';
import type { RunListener, RunSummary } from '../schema/events.ts';
import type { PolicySpec, Recipe } from '../schema/recipe.ts';
import { comparisonPlan } from './run-plan.ts';
import { runTraining } from '../train/loop.ts';

export interface CompareOptions {
  comparisonId: string;
  config: BnlabConfig;
  onEvent: RunListener;
  signal?: AbortSignal;
  backend?: string | null;
}

/** Every policy × seed, seed-major; returns the run summaries in that order. */
export async function runComparison(recipe: Recipe, policies: PolicySpec[], opts: CompareOptions): Promise<RunSummary[]> {
  if (policies.length === 0) throw new Error('compare needs at least one policy');
  const cache = new DecodedImageCache();
  const summaries: RunSummary[] = [];
  // the runs the dashboard queue would make of this comparison: same ids, order and per-run recipes
  for (const run of comparisonPlan(opts.comparisonId, recipe, policies, null)) {
    summaries.push(await runTraining(run.recipe, { runId: run.id, config: opts.config, onEvent: opts.onEvent, signal: opts.signal, backend: opts.backend, cache }));
  }
  return summaries;
}

