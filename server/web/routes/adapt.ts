/**
 * POST /api/adapt {checkpoint, method, prior?, steps?, batchSize?, corruptions, severities} (queue
 * test-time adaptation of a finished run, measured on corrupted copies of its val images
 * → 202 { adaptId }), GET /api/adapt/:id (its request, progress and report). Status, stop and the
 * runs list go through the job endpoints (routes/runs.ts) like every job.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import express from 'express';
import { z } from 'zod';
import { PROJECT_ROOT } from '../../config.ts';
import { ADAPT_CORRUPTION_NAMES, ADAPT_LIMITS, type AdaptProgress, type AdaptRequest } from '../../schema/adapt-report.ts';
import type { AdaptJobResponse } from '../../schema/api.ts';
import type { CheckpointMeta } from '../../schema/checkpoint.ts';
import { RUN_FILES } from '../../runs/files.ts';
import { TENT_DEFAULTS } from '../../train/tent.ts';
import { resolveInsideRoots } from '../safe-path.ts';
import { IdSchema, sendFieldErrors, validate } from '../validation.ts';
import { clientOf, findJobOfKind, submitting, type RouteContext } from './context.ts';

const unique = <T>(items: T[]) => new Set(items).size === items.length;

export const AdaptBodySchema = z
  .strictObject({
    checkpoint: IdSchema.describe('id of a finished run (its folder under the checkpoints folder)'),
    method: z.enum(['stats', 'tent']),
    prior: z.number().finite().nonnegative().nullable().default(null).describe('pseudo sample size N of the source statistics (Schneider et al.); null: target statistics only'),
    steps: z.number().int().positive().max(10_000).nullable().default(null).describe('tent only: Adam steps (default one pass over the images)'),
    batchSize: z.number().int().positive().max(512).default(TENT_DEFAULTS.batchSize),
    corruptions: z
      .array(z.enum(ADAPT_CORRUPTION_NAMES))
      .min(1)
      .max(ADAPT_LIMITS.corruptions, `at most ${ADAPT_LIMITS.corruptions} corruptions per job`)
      .refine(unique, 'each corruption once'),
    severities: z
      .array(z.number().int().min(1).max(5))
      .min(1)
      .max(ADAPT_LIMITS.severities, `at most ${ADAPT_LIMITS.severities} severities per job`)
      .refine(unique, 'each severity once'),
  })
  .superRefine((body, ctx) => {
    if (body.method === 'tent' && body.batchSize < 2) {
      ctx.addIssue({ code: 'custom', path: ['batchSize'], message: 'TENT normalises with the statistics of each batch; one image makes them its own: use 2 or more (16–64 is usual)' });
    }
    if (body.method === 'stats' && body.steps !== null) ctx.addIssue({ code: 'custom', path: ['steps'], message: 'steps apply to method tent only' });
  });

export function adaptRoutes({ config, queue }: RouteContext): express.Router {
  const router = express.Router();
  router.post('/adapt', async (req, res) => {
    const body = validate(AdaptBodySchema, req.body, res);
    if (!body) return;
    const request: AdaptRequest = body;
    const refuse = (message: string) => sendFieldErrors(res, [{ field: 'checkpoint', message }]);
    const dir = path.join(config.checkpointsDir, request.checkpoint);
    let meta: CheckpointMeta;
    try {
      meta = JSON.parse(await fs.readFile(path.join(dir, RUN_FILES.meta), 'utf8')) as CheckpointMeta;
      await fs.access(path.join(dir, RUN_FILES.model));
    } catch {
      return refuse(`no checkpoint for run '${request.checkpoint}' (its folder has no ${RUN_FILES.meta} and ${RUN_FILES.model})`);
    }
    if (!meta.completed) return refuse(`run '${request.checkpoint}' has not finished: adapt a completed run`);
    try {
      await resolveInsideRoots(meta.recipe.data, config.dataRoots, PROJECT_ROOT);
    } catch (error) {
      return refuse(`the run's data folder ${meta.recipe.data} cannot be read: ${(error as Error).message}`);
    }
    await submitting(res, async () => {
      const job = await queue.submitAdapt(request, meta.recipe, clientOf(req));
      res.status(202).json({ adaptId: job.id });
    });
  });

  router.get('/adapt/:id', (req, res) => {
    const job = findJobOfKind(queue, req, res, 'adapt');
    if (!job) return;
    const body: AdaptJobResponse = {
      id: job.id,
      status: job.status,
      request: job.adaptRequest,
      progress: job.progress as AdaptProgress | null, // an adapt job's worker reports AdaptProgress
      report: job.adaptReport,
      error: job.error,
    };
    res.json(body);
  });
  return router;
}
