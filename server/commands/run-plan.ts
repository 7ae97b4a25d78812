/**
 * Fan-out: the runs a comparison (policies × seeds) or a sweep (backbones × datasets × policies ×
 * seeds) consists of, each with its run id, its recipe and the label the dashboard shows. Pure (no
 * tfjs), shared by `bnlab sweep` and the dashboard queue so both name runs the same way.
 */
import path from 'node:path';
import { policyName } from '../schema/policy-names.ts';
import type { PolicySpec, Recipe } from '../schema/recipe.ts';
import { comparisonRunOrder } from '../runs/run-ids.ts';

export interface RunPlan {
  id: string;
  recipe: Recipe;
  label: string;
}

export interface SweepAxes {
  backbones: string[];
  datasets: string[];
  policies: PolicySpec[];
  seeds: number[];
}

const slug = (text: string) => text.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 40);

/**
 * One run per policy × seed (the seeds given, else the recipe's: seed .. seed + seeds - 1), all on
 * the split of the recipe's data seed; run ids and order from runs/run-ids.ts, as `bnlab compare`.
 */
export function comparisonPlan(comparisonId: string, recipe: Recipe, policies: PolicySpec[], seeds: number[] | null): RunPlan[] {
  const runs = comparisonRunOrder(comparisonId, recipe, policies, seeds ?? undefined);
  const several = new Set(runs.map((r) => r.seed)).size > 1;
  const dataSeed = recipe.dataSeed ?? recipe.seed;
  return runs.map((run) => ({
    id: run.runId,
    recipe: { ...recipe, policy: run.spec, seed: run.seed, dataSeed },
    label: several ? `${run.policy} · seed ${run.seed}` : run.policy,
  }));
}

/** Every backbone × dataset × policy × seed; run ids `<sweepId>-<backbone>-<data>-<policy>-s<seed>`. */
export function sweepPlan(sweepId: string, recipe: Recipe, axes: SweepAxes): RunPlan[] {
  const plans: RunPlan[] = [];
  const used = new Set<string>();
  for (const backbone of axes.backbones) {
    for (const data of axes.datasets) {
      for (const policy of axes.policies) {
        for (const seed of axes.seeds) {
          const base = `${sweepId}-${slug(path.basename(backbone))}-${slug(path.basename(data))}-${slug(policyName(policy))}-s${seed}`;
          let id = base;
          for (let n = 2; used.has(id); n++) id = `${base}-${n}`; // two datasets with one folder name
          used.add(id);
          const label = `${path.basename(backbone)} · ${path.basename(data)} · ${policyName(policy)} · seed ${seed}`;
          plans.push({ id, recipe: { ...recipe, backbone, data, policy, seed }, label });
        }
      }
    }
  }
  return plans;
}
