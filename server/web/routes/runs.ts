/**
 * POST /api/runs (queue a run → 201 { runId }), GET /api/runs[?kind=], GET /api/runs/:id,
 * POST /api/runs/:id/stop, POST /api/runs/:id/resume (a job's interrupted/failed/stopped runs again,
 * from their checkpoints), GET /api/runs/:id/metrics[?afterSeq=].
 */
import express from 'express';
import { z } from 'zod';
import type { JobDetail, JobListing, MetricsResponse } from '../../schema/api.ts';
import { RecipeSchema } from '../../schema/recipe.ts';
import { validate } from '../validation.ts';
import { clientOf, findJob, queryOf, submitting, type RouteContext } from './context.ts';
import { pinRecipe } from './pin-recipe.ts';
import { removedJobs } from './removed-jobs.ts';

const ListQuerySchema = z.strictObject({ kind: z.enum(['run', 'comparison', 'inspect', 'adapt']).optional() });
const MetricsQuerySchema = z.strictObject({ afterSeq: z.coerce.number().int().nonnegative().default(0) });

export function runRoutes({ config, queue }: RouteContext): express.Router {
  const router = express.Router();
  router.post('/runs', async (req, res) => {
    const parsed = validate(RecipeSchema, req.body, res);
    if (!parsed) return;
    const recipe = await pinRecipe(config, parsed, res);
    if (!recipe) return;
    await submitting(res, async () => {
      const job = await queue.submitRun(recipe, clientOf(req));
      res.status(201).json({ runId: job.id });
    });
  });

  router.get('/runs', (req, res) => {
    const query = validate(ListQuerySchema, queryOf(req), res, ['query']);
    if (!query) return;
    const removed = removedJobs(queue);
    const runs: JobListing[] = queue
      .list(query.kind)
      .filter((summary) => !removed.has(summary.id))
      .map((summary) => {
        const recipe = queue.get(summary.id)?.recipe ?? null;
        return { ...summary, backbone: recipe?.backbone ?? null, data: recipe?.data ?? null };
      });
    res.json({ runs });
  });

  router.get('/runs/:id', (req, res) => {
    const found = findJob(queue, req, res);
    if (!found) return;
    const detail: JobDetail = { ...found.job.detail(), ...queue.summaryOf(found.job) };
    if (found.id !== found.job.id) detail.run = found.job.runs.get(found.id);
    res.json(detail);
  });

  router.post('/runs/:id/stop', (req, res) => {
    const found = findJob(queue, req, res);
    if (!found) return;
    if (!queue.stop(found.job.id)) {
      res.status(409).json({ error: `'${found.job.id}' has already ended (${found.job.status})` });
      return;
    }
    res.json({ id: found.job.id, stopping: true });
  });

  router.post('/runs/:id/resume', async (req, res) => {
    const found = findJob(queue, req, res);
    if (!found) return;
    if (!(await queue.resume(found.job.id))) {
      res.status(409).json({ error: `'${found.job.id}' has nothing to resume (${found.job.status}): only interrupted, failed or stopped runs continue from their checkpoint` });
      return;
    }
    res.json({ id: found.job.id, resumed: true });
  });

  router.get('/runs/:id/metrics', async (req, res) => {
    const found = findJob(queue, req, res);
    if (!found) return;
    const query = validate(MetricsQuerySchema, queryOf(req), res, ['query']);
    if (!query) return;
    await queue.history(found.job);
    const runId = found.id === found.job.id ? undefined : found.id;
    const body: MetricsResponse = {
      id: found.id,
      jobId: found.job.id,
      lastSeq: queue.summaryOf(found.job).lastSeq,
      events: found.job.log.after(query.afterSeq, { runId }),
    };
    res.json(body);
  });
  return router;
}
