/** GET /api/demo (the demo comparison's recipe and policies), POST /api/demo (start it → 201 { comparisonId }). */
import fs from 'node:fs/promises';
import express, { type Response } from 'express';
import { DEMO_RECIPE_FILE } from '../../config.ts';
import type { DemoDescription } from '../../schema/api.ts';
import { RecipeSchema, type Recipe } from '../../schema/recipe.ts';
import { clientOf, submitting, type RouteContext } from './context.ts';
import { pinRecipe } from './pin-recipe.ts';

/** freeze-all, train-bn, train-bn then PreciseBN, adabn: see the home view for what each shows. */
export const DEMO_POLICIES = ['freeze-all', 'train-bn', 'train-bn+precise-bn', 'adabn'] as const;

export function demoRoutes({ config, queue }: RouteContext): express.Router {
  const router = express.Router();
  async function readDemo(res: Response): Promise<Recipe | null> {
    let raw: unknown;
    try {
      raw = JSON.parse(await fs.readFile(DEMO_RECIPE_FILE, 'utf8'));
    } catch (error) {
      res.status(503).json({ error: `the demo recipe ${DEMO_RECIPE_FILE} cannot be read: ${(error as Error).message}` });
      return null;
    }
    const parsed = RecipeSchema.safeParse(raw);
    if (!parsed.success) {
      res.status(503).json({ error: `the demo recipe ${DEMO_RECIPE_FILE} is invalid: ${parsed.error.message}` });
      return null;
    }
    return parsed.data;
  }

  router.get('/demo', async (_req, res) => {
    const recipe = await readDemo(res);
    if (!recipe) return;
    const body: DemoDescription = { recipe, policies: [...DEMO_POLICIES] };
    res.json(body);
  });

  router.post('/demo', async (req, res) => {
    const demo = await readDemo(res);
    if (!demo) return;
    const recipe = await pinRecipe(config, demo, res, 'recipe.');
    if (!recipe) return;
    await submitting(res, async () => {
      const job = await queue.submitComparison(recipe, [...DEMO_POLICIES], { client: clientOf(req) });
      res.status(201).json({ comparisonId: job.id });
    });
  });
  return router;
}
