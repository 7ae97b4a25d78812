/**
 * `bnlab sweep`: every backbone × dataset × policy × seed, one run each. Locally the runs go one
 * after another in this process; with `--queue <url>` they become one queued task per run on a
 * running dashboard (and its workers), followed until all are done. Either way one table at the end.
 */
import type { BnlabConfig } from '../config.ts';
import { policyName } from '../schema/policy-names.ts';
import type { RunListener, RunSummary } from '../schema/events.ts';
import type { Recipe } from '../schema/recipe.ts';
import { runTraining } from '../train/loop.ts';
import type { JobSummary, RunProgress } from '../schema/api.ts';
import { comparisonManifest, writeComparisonManifest } from '../runs/history.ts';
import { sweepPlan, type SweepAxes } from './run-plan.ts';

/** Run the sweep here, one run after another; the result has the shape the dashboard reports. */
export async function runSweepLocally(
  sweepId: string,
  recipe: Recipe,
  axes: SweepAxes,
  options: { config: BnlabConfig; onEvent: RunListener; backend?: string | null; prepare?: (recipe: Recipe) => Promise<void> },
): Promise<JobSummary> {
  const runs: RunProgress[] = [];
  const plan = sweepPlan(sweepId, recipe, axes);
  // the dashboard lists the sweep as one job, like one submitted to its queue
  await writeComparisonManifest(options.config.checkpointsDir, {
    ...comparisonManifest(sweepId, recipe, axes.policies, new Date().toISOString(), `sweep ${sweepId}`),
    runIds: plan.map((e) => e.id),
    policies: plan.map((e) => policyName(e.recipe.policy)),
    ...{ kind: 'sweep', labels: plan.map((e) => e.label), runRecipes: plan.map((e) => e.recipe) },
  });
  for (const entry of plan) {
    await options.prepare?.(entry.recipe);
    let summary: RunSummary | null = null;
    let error: string | null = null;
    try {
      summary = await runTraining(entry.recipe, { runId: entry.id, config: options.config, onEvent: options.onEvent, backend: options.backend });
    } catch (failure) {
      error = (failure as Error).message; // one bad combination does not end the sweep
    }
    runs.push({
      runId: entry.id, policy: policyName(entry.recipe.policy), status: summary ? 'completed' : 'failed', step: summary?.steps ?? 0,
      totalSteps: null, epoch: 0, summary, error, label: entry.label, worker: null, etaSeconds: null,
    });
  }
  const now = new Date().toISOString();
  return {
    id: sweepId, kind: 'sweep', status: runs.every((r) => r.status === 'completed') ? 'completed' : 'failed', name: sweepId,
    createdAt: now, startedAt: now, finishedAt: now, policies: axes.policies.map(policyName), runs, lastSeq: 0,
    error: runs.find((r) => r.error)?.error ?? null, fromDisk: false, resumable: false,
  };
}
