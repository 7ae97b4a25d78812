/** POST /api/compare {recipe, policies}: queue a comparison → 201 { comparisonId }. */
import express from 'express';
import { z } from 'zod';
import { PolicySpecSchema, RecipeSchema } from '../../schema/recipe.ts';
import { DuplicatePolicyError } from '../queue/run-queue.ts';
import { sendFieldErrors, validate } from '../validation.ts';
import type { RouteContext } from './context.ts';
import { pinRecipe } from './pin-recipe.ts';

const MAX_COMPARED_POLICIES = 8;
const CompareBodySchema = z.strictObject({
  recipe: RecipeSchema,
  policies: z.array(PolicySpecSchema).min(1).max(MAX_COMPARED_POLICIES),
});

export function compareRoutes({ config, queue }: RouteContext): express.Router {
  const router = express.Router();
  router.post('/compare', async (req, res) => {
    const body = validate(CompareBodySchema, req.body, res);
    if (!body) return;
    const recipe = await pinRecipe(config, body.recipe, res, 'recipe.');
    if (!recipe) return;
    try {
      const job = await queue.submitComparison(recipe, body.policies);
      res.status(201).json({ comparisonId: job.id });
    } catch (error) {
      if (!(error instanceof DuplicatePolicyError)) throw error;
      sendFieldErrors(res, [{ field: 'policies', message: error.message }]);
    }
  });
  return router;
}
