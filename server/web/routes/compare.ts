/**
 * POST /api/compare {recipe, policies, seeds?}: queue a comparison, one task per run → 201 { comparisonId }.
 * POST /api/sweep {recipe, backbones, datasets, policies, seeds?}: queue a sweep → 201 { sweepId }.
 */
import express from 'express';
import { z } from 'zod';
import { PolicySpecSchema, RecipeSchema } from '../../schema/recipe.ts';
import { DuplicatePolicyError } from '../queue/run-queue.ts';
import { policyErrors as policyErrorsAt } from '../queue/submit-limits.ts';
import { sendFieldErrors, validate } from '../validation.ts';
import { clientOf, submitting, type RouteContext } from './context.ts';
import { pinFields, pinRecipe } from './pin-recipe.ts';

const MAX_COMPARED_POLICIES = 8;
const MAX_SEEDS = 16;
const MAX_SWEEP_AXIS = 16;
const SeedsSchema = z.array(z.number().int().nonnegative()).min(1).max(MAX_SEEDS).refine((s) => new Set(s).size === s.length, 'seeds must differ');
const CompareBodySchema = z.strictObject({
  recipe: RecipeSchema,
  policies: z.array(PolicySpecSchema).min(1).max(MAX_COMPARED_POLICIES),
  seeds: SeedsSchema.optional(),
});
const SweepBodySchema = z.strictObject({
  recipe: RecipeSchema,
  backbones: z.array(z.string().min(1)).min(1).max(MAX_SWEEP_AXIS),
  datasets: z.array(z.string().min(1)).min(1).max(MAX_SWEEP_AXIS),
  policies: z.array(PolicySpecSchema).min(1).max(MAX_COMPARED_POLICIES),
  seeds: SeedsSchema.optional(),
});

export function compareRoutes({ config, queue }: RouteContext): express.Router {
  const router = express.Router();

  router.post('/compare', async (req, res) => {
    const body = validate(CompareBodySchema, req.body, res);
    if (!body) return;
    const recipe = await pinRecipe(config, body.recipe, res, 'recipe.');
    if (!recipe) return;
    const policyFields = body.policies.flatMap((p, i) => policyErrorsAt(p, `policies.${i}`));
    if (policyFields.length) return sendFieldErrors(res, policyFields);
    try {
      await submitting(res, async () => {
        const job = await queue.submitComparison(recipe, body.policies, { client: clientOf(req), seeds: body.seeds });
        res.status(201).json({ comparisonId: job.id });
      });
    } catch (error) {
      if (!(error instanceof DuplicatePolicyError)) throw error;
      sendFieldErrors(res, [{ field: 'policies', message: error.message }]);
    }
  });

  router.post('/sweep', async (req, res) => {
    const body = validate(SweepBodySchema, req.body, res);
    if (!body) return;
    // every backbone × dataset pair must pin like a recipe of its own
    const base = await pinFields(config, body.recipe, 'recipe.');
    const fields = base.fields.filter((f) => f.field !== 'recipe.backbone' && f.field !== 'recipe.data');
    const backbones: string[] = [];
    const datasets: string[] = [];
    for (const [i, backbone] of body.backbones.entries()) {
      const { pinned, fields: bad } = await pinFields(config, { ...body.recipe, backbone }, 'recipe.');
      backbones.push(pinned.backbone);
      fields.push(...bad.filter((f) => f.field === 'recipe.backbone').map((f) => ({ ...f, field: `backbones.${i}` })));
    }
    for (const [i, data] of body.datasets.entries()) {
      const { pinned, fields: bad } = await pinFields(config, { ...body.recipe, data }, 'recipe.');
      datasets.push(pinned.data);
      fields.push(...bad.filter((f) => f.field === 'recipe.data').map((f) => ({ ...f, field: `datasets.${i}` })));
    }
    fields.push(...body.policies.flatMap((p, i) => policyErrorsAt(p, `policies.${i}`)));
    if (fields.length) return sendFieldErrors(res, fields);
    await submitting(res, async () => {
      const job = await queue.submitSweep(body.recipe, { backbones, datasets, policies: body.policies, seeds: body.seeds ?? [body.recipe.seed] }, clientOf(req));
      res.status(201).json({ sweepId: job.id });
    });
  });

  return router;
}
