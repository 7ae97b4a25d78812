/**
 * The dashboard's REST API. Every input is validated (zod; field-named 400s), every path a request
 * names is resolved inside the configured data roots (safe-path.ts), and nothing heavy runs on the
 * request path: runs, comparisons and inspect passes go to the queue.
 *
 *   GET  /api/health                 liveness + queue counts
 *   GET  /api/backbones              registry + local models
 *   GET  /api/data[?path=]           image datasets under the data roots
 *   GET  /api/demo                   the demo comparison's recipe and policies
 *   POST /api/demo                   start the demo comparison           → 201 { comparisonId }
 *   POST /api/runs        <recipe>   queue a run                         → 201 { runId }
 *   GET  /api/runs[?kind=]           jobs, newest first
 *   GET  /api/runs/:id               one job (or the job holding run :id)
 *   POST /api/runs/:id/stop          stop a queued or running job
 *   GET  /api/runs/:id/metrics[?afterSeq=]  stored events (a comparison's member run: its own only)
 *   POST /api/runs/:id/resume        queue a job's interrupted/failed/stopped runs again (from their checkpoints)
 *   POST /api/compare {recipe, policies, seeds?}  queue a comparison, one task per run → 201 { comparisonId }
 *   POST /api/sweep {recipe, backbones, datasets, policies, seeds?}  queue a sweep → 201 { sweepId }
 *   POST /api/inspect     <recipe>   queue an inspect pass               → 202 { inspectId }
 *   GET  /api/inspect/:id            its progress and report
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { listBackbones } from '../backbones/registry.ts';
import { PROJECT_ROOT, type BnlabConfig } from '../config.ts';
import { PolicySpecSchema, RecipeSchema, type Recipe } from '../schema.ts';
import { listDataFolders } from './data-folders.ts';
import type {
  BackboneOption,
  DemoDescription,
  InspectJobResponse,
  JobDetail,
  MetricsResponse,
} from './protocol.ts';
import { DuplicatePolicyError, QueueFullError, type RunQueue } from './queue/run-queue.ts';
import { policyErrors as policyErrorsAt, recipeLimitErrors } from './queue/submit-limits.ts';
import { isInside, PathOutsideRootsError, resolveInsideRoots } from './safe-path.ts';
import { IdSchema, sendFieldErrors, validate } from './validation.ts';

export const DEMO_RECIPE_FILE = path.join(PROJECT_ROOT, 'recipes', 'demo.json');
export const DEMO_POLICIES = ['freeze-all', 'train-bn', 'adabn'] as const;
const MAX_COMPARED_POLICIES = 8;

const DataQuerySchema = z.strictObject({ path: z.string().min(1).max(4096).optional() });
const ListQuerySchema = z.strictObject({ kind: z.enum(['run', 'comparison', 'inspect']).optional() });
const MetricsQuerySchema = z.strictObject({ afterSeq: z.coerce.number().int().nonnegative().default(0) });
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

/** Who is asking, for the per-client queue cap: the peer address. */
function clientOf(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/** Run a submission; a full queue answers 429 with the cap that was hit. */
async function submitting(res: Response, submit: () => Promise<void>): Promise<void> {
  try {
    await submit();
  } catch (error) {
    if (!(error instanceof QueueFullError)) throw error;
    res.status(429).json({ error: error.message });
  }
}

/** A query string without the auth token, which is not a parameter of any route. */
function queryOf(req: Request): Record<string, unknown> {
  const { token: _token, ...rest } = req.query as Record<string, unknown>;
  return rest;
}

export function apiRouter(config: BnlabConfig, queue: RunQueue): express.Router {
  const router = express.Router();

  /**
   * Pin a validated recipe to real paths the dashboard may use: its data folder inside the data
   * roots, its backbone a known name or a model folder inside the data roots or models folder.
   * Answers 400 (naming the field) and returns null when it cannot.
   */
  async function pinRecipe(recipe: Recipe, res: Response, prefix = ''): Promise<Recipe | null> {
    const { pinned, fields } = await pinFields(recipe, prefix);
    if (fields.length) {
      sendFieldErrors(res, fields);
      return null;
    }
    return pinned;
  }

  /** pinRecipe's work: the pinned recipe, or the field errors that prevent it. */
  async function pinFields(recipe: Recipe, prefix = ''): Promise<{ pinned: Recipe; fields: { field: string; message: string }[] }> {
    const fields: { field: string; message: string }[] = [];
    let data = recipe.data;
    try {
      const isDemo = isInside(path.resolve(PROJECT_ROOT, recipe.data), config.demoDataDir);
      data = (await resolveInsideRoots(recipe.data, config.dataRoots, PROJECT_ROOT, { allowMissing: isDemo })).real;
    } catch (error) {
      if (!(error instanceof PathOutsideRootsError)) throw error;
      fields.push({ field: `${prefix}data`, message: error.message });
    }
    let backbone = recipe.backbone;
    const known = listBackbones(config).some((b) => b.name === recipe.backbone);
    if (!known) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(recipe.backbone)) {
        fields.push({
          field: `${prefix}backbone`,
          message: 'URLs are not accepted from the dashboard; use a listed backbone (the CLI can download one)',
        });
      } else {
        const roots = [...config.dataRoots, config.modelsDir, config.cacheDir].filter((r): r is string => !!r);
        try {
          backbone = (await resolveInsideRoots(recipe.backbone, roots, PROJECT_ROOT)).real;
        } catch (error) {
          if (!(error instanceof PathOutsideRootsError)) throw error;
          fields.push({ field: `${prefix}backbone`, message: `unknown backbone: not a listed name, and ${error.message}` });
        }
      }
    }
    fields.push(...recipeLimitErrors(recipe, prefix));
    return { pinned: { ...recipe, data, backbone }, fields };
  }

  router.get('/health', (_req, res) => {
    res.json({ ok: true, queue: queue.counts(), uptimeSeconds: Math.round(process.uptime()) });
  });

  router.get('/backbones', (_req, res) => {
    const options: BackboneOption[] = listBackbones(config).map((b) => ({
      name: b.name,
      description: b.description,
      registered: b.registered,
      location: b.location,
      availableOffline: b.availableOffline,
    }));
    res.json({ backbones: options });
  });

  router.get('/data', async (req, res) => {
    const query = validate(DataQuerySchema, queryOf(req), res, ['query']);
    if (!query) return;
    let folder: string | null = null;
    if (query.path) {
      try {
        folder = (await resolveInsideRoots(query.path, config.dataRoots, PROJECT_ROOT)).real;
      } catch (error) {
        if (!(error instanceof PathOutsideRootsError)) throw error;
        sendFieldErrors(res, [{ field: 'query.path', message: error.message }]);
        return;
      }
    }
    res.json(await listDataFolders(config.dataRoots, folder, config.demoDataDir));
  });

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

  router.post('/demo', async (_req, res) => {
    const demo = await readDemo(res);
    if (!demo) return;
    const recipe = await pinRecipe(demo, res, 'recipe.');
    if (!recipe) return;
    await submitting(res, async () => {
      const job = await queue.submitComparison(recipe, [...DEMO_POLICIES], { client: clientOf(_req) });
      res.status(201).json({ comparisonId: job.id });
    });
  });

  router.post('/runs', async (req, res) => {
    const parsed = validate(RecipeSchema, req.body, res);
    if (!parsed) return;
    const recipe = await pinRecipe(parsed, res);
    if (!recipe) return;
    await submitting(res, async () => {
      const job = await queue.submitRun(recipe, clientOf(req));
      res.status(201).json({ runId: job.id });
    });
  });

  router.get('/runs', (req, res) => {
    const query = validate(ListQuerySchema, queryOf(req), res, ['query']);
    if (!query) return;
    res.json({ runs: queue.list(query.kind) });
  });

  /** The job an id names: a job id, or a run id inside a comparison. */
  function findJob(req: Request, res: Response) {
    const id = validate(IdSchema, req.params.id, res, ['params', 'id']);
    if (id === undefined) return null;
    const job = queue.get(id) ?? queue.jobOfRun(id);
    if (!job) {
      res.status(404).json({ error: `no run or comparison '${id}'` });
      return null;
    }
    return { id, job };
  }

  router.get('/runs/:id', (req, res) => {
    const found = findJob(req, res);
    if (!found) return;
    const detail: JobDetail = { ...found.job.detail(), ...queue.summaryOf(found.job) };
    if (found.id !== found.job.id) detail.run = found.job.runs.get(found.id);
    res.json(detail);
  });

  router.post('/runs/:id/stop', (req, res) => {
    const found = findJob(req, res);
    if (!found) return;
    if (!queue.stop(found.job.id)) {
      res.status(409).json({ error: `'${found.job.id}' has already ended (${found.job.status})` });
      return;
    }
    res.json({ id: found.job.id, stopping: true });
  });

  router.get('/runs/:id/metrics', async (req, res) => {
    const found = findJob(req, res);
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

  router.post('/compare', async (req, res) => {
    const body = validate(CompareBodySchema, req.body, res);
    if (!body) return;
    const recipe = await pinRecipe(body.recipe, res, 'recipe.');
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
    const base = await pinFields(body.recipe, 'recipe.');
    const fields = base.fields.filter((f) => f.field !== 'recipe.backbone' && f.field !== 'recipe.data');
    const backbones: string[] = [];
    const datasets: string[] = [];
    for (const [i, backbone] of body.backbones.entries()) {
      const { pinned, fields: bad } = await pinFields({ ...body.recipe, backbone }, 'recipe.');
      backbones.push(pinned.backbone);
      fields.push(...bad.filter((f) => f.field === 'recipe.backbone').map((f) => ({ ...f, field: `backbones.${i}` })));
    }
    for (const [i, data] of body.datasets.entries()) {
      const { pinned, fields: bad } = await pinFields({ ...body.recipe, data }, 'recipe.');
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

  router.post('/runs/:id/resume', async (req, res) => {
    const found = findJob(req, res);
    if (!found) return;
    if (!(await queue.resume(found.job.id))) {
      res.status(409).json({ error: `'${found.job.id}' has nothing to resume (${found.job.status}): only interrupted, failed or stopped runs continue from their checkpoint` });
      return;
    }
    res.json({ id: found.job.id, resumed: true });
  });

  router.post('/inspect', async (req, res) => {
    const parsed = validate(RecipeSchema, req.body, res);
    if (!parsed) return;
    const recipe = await pinRecipe(parsed, res);
    if (!recipe) return;
    await submitting(res, async () => {
      const job = await queue.submitInspect(recipe, clientOf(req));
      res.status(202).json({ inspectId: job.id });
    });
  });

  router.get('/inspect/:id', (req, res) => {
    const found = findJob(req, res);
    if (!found) return;
    const { job } = found;
    if (job.kind !== 'inspect') {
      res.status(404).json({ error: `'${job.id}' is not an inspect job` });
      return;
    }
    const body: InspectJobResponse = {
      id: job.id,
      status: job.status,
      progress: job.progress,
      report: job.report,
      error: job.error,
    };
    res.json(body);
  });

  router.use((_req, res) => {
    res.status(404).json({ error: 'no such API route' });
  });

  return router;
}
