import { describe, expect, it } from 'vitest';
import { RecipeSchema } from '../../schema/recipe.ts';
import { recipeLimitErrors, SUBMIT_LIMITS } from './submit-limits.ts';

const recipe = (extra: Record<string, unknown> = {}) => RecipeSchema.parse({ backbone: 'demo', data: 'data/demo', ...extra });

describe('submit limits', () => {
  it('accepts the demo recipe and values at the limits', () => {
    expect(recipeLimitErrors(recipe())).toEqual([]);
    expect(recipeLimitErrors(recipe({ epochs: SUBMIT_LIMITS.epochs, batchSize: SUBMIT_LIMITS.batchSize, imageSize: SUBMIT_LIMITS.imageSize }))).toEqual([]);
  });

  it('names every field over a limit, with the prefix of the request body', () => {
    const errors = recipeLimitErrors(recipe({ epochs: 1e9, batchSize: 1e6, imageSize: 1e5, head: { hidden: [64, 1e8] } }), 'recipe.');
    expect(errors.map((e) => e.field)).toEqual(['recipe.epochs', 'recipe.batchSize', 'recipe.imageSize', 'recipe.head.hidden.1']);
    expect(errors[0].message).toMatch(/over the limit of 1000/);
  });

  it('compiles rule patterns and reports the one that does not', () => {
    const errors = recipeLimitErrors(recipe({ policy: { rules: [{ match: 'conv.*', trainable: true }, { match: '(unclosed', bnMode: 'train' }] } }));
    expect(errors).toHaveLength(1);
    expect(errors[0].field).toBe('policy.rules.1.match');
    expect(errors[0].message).toMatch(/not a valid regular expression/);
  });

  it('refuses tiny images and too many head layers', () => {
    const errors = recipeLimitErrors(recipe({ imageSize: 2, head: { hidden: Array(9).fill(8) } }));
    expect(errors.map((e) => e.field)).toEqual(['imageSize', 'head.hidden']);
  });
});
