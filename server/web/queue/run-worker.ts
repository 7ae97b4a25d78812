/**
 * Entry of the child process that runs one dashboard job (see worker-protocol.ts): a training run,
 * a policy comparison, an inspect pass or an adapt job. Started by queue/child-run.ts with
 * `process.execPath --import tsx run-worker.ts` and an IPC channel; it never serves HTTP.
 */
import type { BnlabConfig } from '../../config.ts';
import { ensureDemoDataset } from '../../demo/make-dataset.ts';
import type { Recipe } from '../../schema/recipe.ts';
import { runComparison } from '../../commands/compare.ts';
import { comparisonReport } from '../../stats/comparison-report.ts';
import { policyName } from '../../schema/policy-names.ts';
import { adaptAcrossShifts } from '../../commands/adapt-shifts.ts';
import { inspectRecipe } from '../../commands/inspect.ts';
import path from 'node:path';
import { runTraining } from '../../train/loop.ts';
import { isInside } from '../safe-path.ts';
import { serveJobs } from './worker-protocol.ts';

/** The demo recipe points at generated data: make it (once) before the run reads it. */
async function prepareData(recipe: Recipe, config: BnlabConfig): Promise<void> {
  if (!isInside(recipe.data, config.demoDataDir)) return;
  await ensureDemoDataset(config);
}

serveJobs({
  async run(job, { onEvent, signal }) {
    await prepareData(job.recipe, job.config);
    return runTraining(job.recipe, { runId: job.runId, config: job.config, onEvent, signal, backend: job.config.backend, resume: job.resume });
  },
  async comparison(job, { onEvent, signal }) {
    await prepareData(job.recipe, job.config);
    const started = Date.now();
    const summaries = await runComparison(job.recipe, job.policies, {
      comparisonId: job.comparisonId,
      config: job.config,
      onEvent,
      signal,
      backend: job.config.backend,
    });
    // per-policy means, intervals and paired verdicts (issue 10), kept by the queue as job.report
    return comparisonReport(job.comparisonId, job.recipe, job.policies.map(policyName), summaries, (Date.now() - started) / 1000);
  },
  async inspect(job) {
    await prepareData(job.recipe, job.config);
    return inspectRecipe(job.recipe, job.config, job.config.backend);
  },
  async adapt(job, { onProgress, signal }) {
    return adaptAcrossShifts({ checkpointDir: path.join(job.config.checkpointsDir, job.request.checkpoint), request: job.request, backend: job.config.backend, onProgress, signal });
  },
});
