/** Run ids, shared by the CLI, the comparison runner and the dashboard queue (no tfjs import here). */
import { randomBytes } from 'node:crypto';
import { policyName } from '../schema/policy-names.ts';
import type { PolicySpec, Recipe } from '../schema/recipe.ts';

/**
 * `<prefix>-YYYYMMDD-HHMMSS` (UTC), e.g. `train-20261201-093012`; with `unique`, 4 random hex
 * digits follow, for servers that may start two runs in one second.
 */
export function timestampRunId(prefix: string, { unique = false, now = new Date() } = {}): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return unique ? `${prefix}-${stamp}-${randomBytes(2).toString('hex')}` : `${prefix}-${stamp}`;
}

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

/**
 * The runs of a comparison in the order they run: seed-major, so an interrupted comparison has
 * every policy on its first seeds. `seeds` defaults to the recipe's (seed .. seed + seeds - 1).
 */
export function comparisonRunOrder(
  comparisonId: string,
  recipe: Pick<Recipe, 'seed' | 'seeds'>,
  policySpecs: PolicySpec[],
  seeds: number[] = comparisonSeeds(recipe),
): { runId: string; policy: string; spec: PolicySpec; seed: number }[] {
  return seeds.flatMap((seed) => policySpecs.map((spec) => ({ runId: comparisonSeedRunId(comparisonId, spec, seed, seeds.length), policy: policyName(spec), spec, seed })));
}
