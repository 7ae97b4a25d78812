/**
 * The dashboard's REST API. Every input is validated (zod; field-named 400s), every path a request
 * names is resolved inside the configured data roots (safe-path.ts), and nothing heavy runs on the
 * request path: runs, comparisons, inspect passes and adapt jobs go to the queue. One module per resource.
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
 *   DELETE /api/runs/:id             delete a finished job and its run folders (run-files.ts)
 *   GET  /api/runs/:id/files[/:name] its run folders: paths, preprocessing, model files (run-files.ts)
 *   POST /api/runs/:id/predict <image>  classify one image with the run's checkpoint (predict.ts)
 *   GET  /api/runs/:id/metrics[?afterSeq=]  stored events (a comparison's member run: its own only)
 *   POST /api/compare {recipe, policies}  queue a comparison           → 201 { comparisonId }
 *   POST /api/inspect     <recipe>   queue an inspect pass               → 202 { inspectId }
 *   GET  /api/inspect/:id            its progress and report
 *   POST /api/adapt {checkpoint, method, corruptions, severities, …}  queue test-time adaptation of a finished run → 202 { adaptId }
 *   GET  /api/adapt/:id              its progress and before/after report
 */
import express from 'express';
import type { BnlabConfig } from '../../config.ts';
import type { RunQueue } from '../queue/run-queue.ts';
import { adaptRoutes } from './adapt.ts';
import { compareRoutes } from './compare.ts';
import { demoRoutes } from './demo.ts';
import { inspectRoutes } from './inspect.ts';
import { predictRoutes } from './predict.ts';
import { runFileRoutes } from './run-files.ts';
import { runRoutes } from './runs.ts';
import { systemRoutes } from './system.ts';

export function apiRouter(config: BnlabConfig, queue: RunQueue): express.Router {
  const context = { config, queue };
  const router = express.Router();
  for (const routes of [systemRoutes, demoRoutes, runRoutes, runFileRoutes, predictRoutes, compareRoutes, inspectRoutes, adaptRoutes]) router.use(routes(context));
  router.use((_req, res) => {
    res.status(404).json({ error: 'no such API route' });
  });
  return router;
}
