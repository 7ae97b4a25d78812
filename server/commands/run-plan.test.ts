import { describe, expect, it } from 'vitest';
import { RecipeSchema } from '../schema/recipe.ts';
import { comparisonPlan, sweepPlan } from './run-plan.ts';

const recipe = RecipeSchema.parse({ backbone: 'demo', data: 'data/demo', seed: 4 });

describe('run plans', () => {
  it('a comparison without seeds keeps the run ids bnlab compare uses, with the recipe seed', () => {
    const plan = comparisonPlan('cmp-1', recipe, ['freeze-all', 'unfreeze-last:2'], null);
    expect(plan.map((p) => [p.id, p.label, p.recipe.seed, p.recipe.policy])).toEqual([
      ['cmp-1-freeze-all', 'freeze-all', 4, 'freeze-all'],
      ['cmp-1-unfreeze-last_2', 'unfreeze-last:2', 4, 'unfreeze-last:2'],
    ]);
  });

  it('policies × seeds: one run each, seed by seed', () => {
    const plan = comparisonPlan('cmp-1', recipe, ['freeze-all', 'adabn'], [0, 1]);
    expect(plan.map((p) => p.id)).toEqual(['cmp-1-freeze-all-seed0', 'cmp-1-adabn-seed0', 'cmp-1-freeze-all-seed1', 'cmp-1-adabn-seed1']);
    expect(plan.map((p) => p.recipe.seed)).toEqual([0, 0, 1, 1]);
  });

  it('a sweep covers every combination, and two datasets with one folder name get distinct ids', () => {
    const plan = sweepPlan('sw', recipe, { backbones: ['demo', '/m/mobilenet'], datasets: ['/a/images', '/b/images'], policies: ['train-bn'], seeds: [0] });
    expect(plan).toHaveLength(4);
    expect(new Set(plan.map((p) => p.id)).size).toBe(4);
    expect(plan[1]).toMatchObject({ id: 'sw-demo-images-train-bn-s0-2', label: 'demo · images · train-bn · seed 0', recipe: { backbone: 'demo', data: '/b/images' } });
  });
});
