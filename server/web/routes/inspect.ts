/** POST /api/inspect <recipe> (queue an inspect pass → 202 { inspectId }), GET /api/inspect/:id (its progress and report). */
import express from 'express';
import type { InspectJobResponse, InspectProgress } from '../../schema/api.ts';
import { RecipeSchema } from '../../schema/recipe.ts';
import { validate } from '../validation.ts';
import { clientOf, findJobOfKind, submitting, type RouteContext } from './context.ts';
import { pinRecipe } from './pin-recipe.ts';

export function inspectRoutes({ config, queue }: RouteContext): express.Router {
  const router = express.Router();
  router.post('/inspect', async (req, res) => {
    const parsed = validate(RecipeSchema, req.body, res);
    if (!parsed) return;
    const recipe = await pinRecipe(config, parsed, res);
    if (!recipe) return;
    await submitting(res, async () => {
      const job = await queue.submitInspect(recipe, clientOf(req));
      res.status(202).json({ inspectId: job.id });
    });
  });

  router.get('/inspect/:id', (req, res) => {
    const job = findJobOfKind(queue, req, res, 'inspect');
    if (!job) return;
    const body: InspectJobResponse = {
      id: job.id,
      status: job.status,
      progress: job.progress as InspectProgress | null, // an inspect job's worker reports InspectProgress
      report: job.report,
      error: job.error,
    };
    res.json(body);
  });
  return router;
}
