/** Run ids, shared by the CLI, the comparison runner and the dashboard queue (no tfjs import here). */
import { policyName } from '../policies/resolve.ts';
import type { PolicySpec, Recipe } from '../schema.ts';

/** Run id of one policy inside a comparison: `<comparisonId>-<policy name, file-name safe>`. */
export function comparisonRunId(comparisonId: string, policy: PolicySpec): string {
  return `${comparisonId}-${policyName(policy).replace(/[^A-Za-z0-9_.-]+/g, '_')}`;
}

/** Run seeds of a comparison: seed, seed + 1, ..., seed + seeds - 1 (recipe fields `seed`, `seeds`). */
export function comparisonSeeds(recipe: { seed: number; seeds: number }): number[] {
  return Array.from({ length: recipe.seeds }, (_, k) => recipe.seed + k);
}

/** Run id of one policy × seed; with a single seed the id of comparisonRunId, as before seeds existed. */
export function comparisonSeedRunId(comparisonId: string, policy: PolicySpec, seed: number, seeds: number): string {
  return seeds === 1 ? comparisonRunId(comparisonId, policy) : `${comparisonRunId(comparisonId, policy)}-seed${seed}`;
}

/** The runs of a comparison in the order they run: seed-major, so an interrupted comparison has every policy on its first seeds. */
export function comparisonRunOrder(comparisonId: string, recipe: Pick<Recipe, 'seed' | 'seeds'>, policySpecs: PolicySpec[]): { runId: string; policy: string; spec: PolicySpec; seed: number }[] {
  const seeds = comparisonSeeds(recipe);
  return seeds.flatMap((seed) => policySpecs.map((spec) => ({ runId: comparisonSeedRunId(comparisonId, spec, seed, seeds.length), policy: policyName(spec), spec, seed })));
}
