/**
 * Entry of the child process that runs one dashboard job (see worker-protocol.ts): a training run,
 * a policy comparison or an inspect pass. Started by run-queue.ts with
 * `process.execPath --import tsx run-worker.ts` and an IPC channel; it never serves HTTP.
 */
import type { BnlabConfig } from '../config.ts';
import type { PolicySpec, Recipe, RunEvent, RunSummary } from '../schema.ts';
import { runTraining } from '../train/run.ts';
import { isInside } from './safe-path.ts';
import { serveJobs } from './worker-protocol.ts';

// Modules still being written by teammates are loaded by path, typed here by the contract they
// implement. TODO(web): switch to static imports once server/train/compare.ts,
// server/train/inspect-recipe.ts and server/demo/make-dataset.ts exist.
type RunComparison = (
  recipe: Recipe,
  policies: PolicySpec[],
  opts: { comparisonId: string; config: BnlabConfig; onEvent: (e: RunEvent) => void; signal?: AbortSignal },
) => Promise<RunSummary[]>;
type InspectRecipe = (recipe: Recipe, config: BnlabConfig, onProgress?: (progress: unknown) => void) => Promise<unknown>;
type EnsureDemoDataset = (config: BnlabConfig) => Promise<unknown>;

async function importByPath<T>(relative: string, name: string): Promise<T> {
  const specifier = new URL(relative, import.meta.url).href;
  const module = (await import(specifier)) as Record<string, unknown>;
  if (typeof module[name] !== 'function') throw new Error(`${relative} does not export ${name}()`);
  return module[name] as T;
}

/** The demo recipe points at generated data: make it (once) before the run reads it. */
async function prepareData(recipe: Recipe, config: BnlabConfig): Promise<void> {
  if (!isInside(recipe.data, config.demoDataDir)) return;
  const ensureDemoDataset = await importByPath<EnsureDemoDataset>('../demo/make-dataset.ts', 'ensureDemoDataset');
  await ensureDemoDataset(config);
}

serveJobs({
  async run(job, { onEvent, signal }) {
    await prepareData(job.recipe, job.config);
    return runTraining(job.recipe, { runId: job.runId, config: job.config, onEvent, signal, backend: job.config.backend });
  },
  async comparison(job, { onEvent, signal }) {
    await prepareData(job.recipe, job.config);
    const runComparison = await importByPath<RunComparison>('../train/compare.ts', 'runComparison');
    return runComparison(job.recipe, job.policies, { comparisonId: job.comparisonId, config: job.config, onEvent, signal });
  },
  async inspect(job, { onProgress }) {
    await prepareData(job.recipe, job.config);
    const inspectRecipe = await importByPath<InspectRecipe>('../train/inspect-recipe.ts', 'inspectRecipe');
    return inspectRecipe(job.recipe, job.config, onProgress);
  },
});
