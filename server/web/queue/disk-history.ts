/**
 * Jobs read back from the checkpoints folder at startup: every run folder with a metrics file, and
 * the comparison manifests that group runs (run-history.ts reads the files; this builds the
 * dashboard's Job objects from them). A run whose metrics never recorded an end was cut off (its
 * server, worker or CLI process died) and shows as 'interrupted', resumable from its checkpoint.
 */
import { policyName } from '../../schema/policy-names.ts';
import type { Recipe } from '../../schema/recipe.ts';
import type { EventLogLimits } from './event-log.ts';
import { Job } from './job.ts';
import type { JobKind, JobStatus } from '../../schema/api.ts';
import { readComparisonManifests, readMetricsFile, scanCheckpoints } from '../../runs/history.ts';

/** Where a disk job's events live, so its history can be dropped from memory and read again. */
export interface DiskSource {
  files: string[];
  expectedRunIds: string[];
  lastSeq: number;
}

export interface DiskJob {
  job: Job;
  source: DiskSource;
  /** The recipe of each run, for Resume. */
  recipes: Map<string, Recipe>;
}

/** A finished job's status from its runs': any failure wins, then stop, then interruption. */
export function aggregateStatus(statuses: JobStatus[]): JobStatus {
  for (const status of ['failed', 'stopped', 'interrupted'] as const) if (statuses.includes(status)) return status;
  return statuses.length ? 'completed' : 'interrupted';
}

/** Fold a disk job's events into it; runs without an end become 'interrupted'. */
export async function foldDiskEvents(job: Job, source: DiskSource): Promise<void> {
  const perFile = await Promise.all(source.files.map(readMetricsFile));
  for (const events of perFile) for (const event of events) job.record(event);
  for (const runId of source.expectedRunIds) {
    const run = job.runProgress(runId);
    if (run.status === 'running' || run.status === 'queued') {
      run.status = 'interrupted';
      run.etaSeconds = null;
    }
  }
  job.status = aggregateStatus([...job.runs.values()].map((r) => r.status));
  job.error = [...job.runs.values()].find((r) => r.error)?.error ?? null;
  job.finishedAt ??= job.createdAt;
}

/**
 * Every job on disk except those `skip` claims (jobs the queue is running again). Histories are
 * folded once for the status, then dropped; the queue reloads them on demand.
 */
export async function readDiskJobs(checkpointsDir: string, skip: (id: string) => boolean, limits?: EventLogLimits): Promise<DiskJob[]> {
  const [runs, manifests] = await Promise.all([scanCheckpoints(checkpointsDir), readComparisonManifests(checkpointsDir)]);
  const byRunId = new Map(runs.map((r) => [r.runId, r]));
  const grouped = new Set<string>();
  const out: DiskJob[] = [];
  const add = async (job: Job, source: DiskSource, recipes: Map<string, Recipe>) => {
    await foldDiskEvents(job, source);
    source.lastSeq = job.log.lastSeq;
    job.dropHistory();
    job.resumable = [...job.runs.values()].some((r) => r.status === 'interrupted' || r.status === 'failed' || r.status === 'stopped');
    out.push({ job, source, recipes });
  };
  for (const raw of manifests) {
    const manifest = raw as typeof raw & { kind?: JobKind; labels?: string[]; runRecipes?: Recipe[] };
    manifest.runIds.forEach((id) => grouped.add(id));
    if (skip(manifest.comparisonId)) continue;
    const job = new Job({
      id: manifest.comparisonId,
      kind: manifest.kind === 'sweep' ? 'sweep' : 'comparison',
      name: manifest.name,
      recipe: manifest.recipe,
      policySpecs: manifest.policySpecs,
      policies: manifest.policies,
      createdAt: manifest.createdAt,
      fromDisk: true,
      limits,
    });
    const recipes = new Map<string, Recipe>();
    manifest.runIds.forEach((runId, i) => {
      const run = job.runProgress(runId);
      run.status = 'queued';
      run.policy = manifest.runRecipes ? policyName(manifest.runRecipes[i].policy) : (manifest.policies[i] ?? runId);
      run.label = manifest.labels?.[i] ?? null;
      recipes.set(runId, manifest.runRecipes?.[i] ?? { ...manifest.recipe, policy: manifest.policySpecs[i] ?? manifest.recipe.policy });
    });
    const files = manifest.runIds.filter((id) => byRunId.has(id)).map((id) => byRunId.get(id)!.metricsFile);
    await add(job, { files, expectedRunIds: manifest.runIds, lastSeq: 0 }, recipes);
  }
  for (const run of runs) {
    if (grouped.has(run.runId) || skip(run.runId)) continue;
    // a run cut off before its first checkpoint has no checkpoint.json: its runStarted names it
    const started = run.meta ? null : (await readMetricsFile(run.metricsFile)).find((e) => e.type === 'runStarted');
    const recipe = run.meta?.recipe ?? (started?.type === 'runStarted' ? started.recipe : null);
    const createdAt = started?.type === 'runStarted' ? started.time : new Date(run.modifiedMs).toISOString();
    const policy = recipe ? policyName(recipe.policy) : 'unknown';
    const job = new Job({
      id: run.runId,
      kind: 'run',
      name: recipe?.name ?? run.runId,
      recipe,
      policySpecs: recipe ? [recipe.policy] : [],
      policies: [policy],
      createdAt,
      fromDisk: true,
      limits,
    });
    const progress = job.runProgress(run.runId);
    progress.status = 'queued';
    progress.policy = policy;
    await add(job, { files: [run.metricsFile], expectedRunIds: [run.runId], lastSeq: 0 }, new Map(recipe ? [[run.runId, recipe]] : []));
  }
  return out;
}
