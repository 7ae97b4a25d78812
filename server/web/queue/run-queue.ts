/**
 * The dashboard's queue: submission (bounds, caps, one task per run), the jobs it shows (status and
 * numbered event history per job, job.ts / event-log.ts), and the engine that delivers the tasks
 * (embedded-engine.ts by default, redis-engine.ts when BNLAB_REDIS_URL is set).
 *
 * Events of a job's runs are numbered in the order this server receives them and re-emitted as
 * `'event'` (job, envelope); status changes are emitted as `'job'` (JobSummary). Jobs that have
 * not ended are recorded on disk (job-store.ts): after a restart queued tasks run and interrupted
 * ones resume from their checkpoint. Finished runs are read back from the checkpoints folder
 * (disk-history.ts).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { BnlabConfig } from '../../config.ts';
import { policyName } from '../../schema/policy-names.ts';
import type { RunEvent } from '../../schema/events.ts';
import type { PolicySpec, Recipe } from '../../schema/recipe.ts';
import { comparisonPlan, sweepPlan, type RunPlan, type SweepAxes } from '../../commands/run-plan.ts';
import type { EventLogLimits } from './event-log.ts';
import { Job } from './job.ts';
import type { EventEnvelope, JobKind, JobProgress, JobStatus, JobSummary } from '../../schema/api.ts';
import type { AdaptReport, AdaptRequest } from '../../schema/adapt-report.ts';
import type { ComparisonReport } from '../../schema/comparison.ts';
import type { RecipeInspection } from '../../schema/inspect-report.ts';
import { comparisonReport } from '../../stats/comparison-report.ts';
import { RUN_FILES } from '../../runs/files.ts';
import { comparisonManifest, readMetricsFile, writeComparisonManifest } from '../../runs/history.ts';
import { aggregateStatus, foldDiskEvents, readDiskJobs, type DiskSource } from './disk-history.ts';
import { EmbeddedEngine } from './embedded-engine.ts';
import { readJobRecords, removeJobRecord, saveJobRecord } from './job-store.ts';
import type { JobRecord, QueueEngine, QueueTask, StoredTask, TaskOutcome } from './task.ts';

export { DEFAULT_WORKER_FILE } from './child-run.ts';

export interface RunQueueOptions {
  config: BnlabConfig;
  /** The delivery engine; default: BullMQ when `redisUrl` is set, else embedded. */
  engine?: QueueEngine;
  /** Redis for the BullMQ engine (default process.env.BNLAB_REDIS_URL; null forces embedded). */
  redisUrl?: string | null;
  /** Script the child process runs (a module that calls serveJobs). */
  workerFile?: string;
  /** Embedded engine: tasks running at once. */
  concurrency?: number;
  /** After a stop request, how long a worker may take to wind down before SIGKILL. */
  stopGraceMs?: number;
  /** Copy the worker's stdout/stderr to this process's stderr (the CLI server does; tests don't). */
  echoWorkerOutput?: boolean;
  limits?: EventLogLimits;
  /** How many jobs read from disk keep their full history in memory at once. */
  diskHistoryCacheSize?: number;
  /** Cap on tasks waiting to run, in total (default 1000) and per client (default 200). */
  maxQueued?: number;
  maxQueuedPerClient?: number;
}

export interface RunQueueEvents {
  event: [job: Job, envelope: EventEnvelope];
  job: [summary: JobSummary];
}

interface LiveTask extends StoredTask {
  state: 'queued' | 'running';
}

function timestampId(prefix: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${prefix}-${stamp}-${randomBytes(2).toString('hex')}`;
}

export class RunQueue extends EventEmitter<RunQueueEvents> {
  readonly config: BnlabConfig;
  private readonly options: RunQueueOptions;
  private engine: QueueEngine;
  private readonly limits?: EventLogLimits;
  private readonly diskHistoryCacheSize: number;
  private readonly maxQueued: number;
  private readonly maxQueuedPerClient: number;
  private readonly jobs = new Map<string, Job>();
  private readonly runToJob = new Map<string, string>();
  private readonly tasks = new Map<string, LiveTask>();
  private readonly records = new Map<string, JobRecord>();
  private readonly recipes = new Map<string, Recipe>();
  private readonly diskSources = new Map<string, DiskSource>();
  private readonly diskLoads = new Map<string, Promise<void>>();
  private readonly diskLoaded: string[] = [];
  private started = false;
  private closed = false;

  constructor(options: RunQueueOptions) {
    super();
    this.options = options;
    this.config = options.config;
    this.limits = options.limits;
    this.diskHistoryCacheSize = options.diskHistoryCacheSize ?? 8;
    this.maxQueued = options.maxQueued ?? 1000;
    this.maxQueuedPerClient = options.maxQueuedPerClient ?? 200;
    this.engine = options.engine ?? new EmbeddedEngine(this.config, this.engineOptions());
  }

  private engineOptions() {
    return {
      workerFile: this.options.workerFile,
      concurrency: this.options.concurrency,
      stopGraceMs: this.options.stopGraceMs,
      echoOutput: this.options.echoWorkerOutput,
    };
  }

  get engineName(): string {
    return this.engine.name;
  }

  // ---------------------------------------------------------------------------------------------
  // Starting: the engine, the history on disk, the jobs that had not ended

  /** Pick the engine, read history and unfinished jobs from disk, queue those again. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const redisUrl = this.options.redisUrl === undefined ? (process.env.BNLAB_REDIS_URL ?? null) : this.options.redisUrl;
    if (!this.options.engine && redisUrl) {
      const { RedisEngine } = await import('./redis-engine.ts');
      this.engine = new RedisEngine(redisUrl, { stopGraceMs: this.options.stopGraceMs });
    }
    const records = await readJobRecords(this.config.checkpointsDir);
    const claimed = new Set(records.flatMap((r) => [r.id, ...r.tasks.map((t) => t.id)]));
    for (const disk of await readDiskJobs(this.config.checkpointsDir, (id) => claimed.has(id), this.limits)) {
      this.jobs.set(disk.job.id, disk.job);
      this.diskSources.set(disk.job.id, disk.source);
      for (const runId of disk.source.expectedRunIds) this.runToJob.set(runId, disk.job.id);
      for (const [runId, recipe] of disk.recipes) this.recipes.set(runId, recipe);
    }
    const resubmit: QueueTask[] = [];
    for (const record of records) resubmit.push(...(await this.restore(record)));
    await this.engine.start({
      onStarted: (taskId, worker) => this.onStarted(taskId, worker),
      onEvent: (taskId, event) => this.onEvent(taskId, event),
      onProgress: (taskId, progress) => this.onProgress(taskId, progress),
      onEnded: (taskId, outcome) => this.onEnded(taskId, outcome),
      onAnnounced: (record) => this.onAnnounced(record),
    });
    for (const task of resubmit) await this.engine.submit(task);
  }

  /** @deprecated the old name of start() */
  loadHistory(): Promise<void> {
    return this.start();
  }

  /** Rebuild a job that had not ended from its record: history from disk (or the engine), tasks left. */
  private async restore(record: JobRecord): Promise<QueueTask[]> {
    const job = this.newJob(record);
    this.jobs.set(job.id, job);
    this.records.set(job.id, record);
    const pending: QueueTask[] = [];
    for (const task of record.tasks) {
      this.expectTask(job, task);
      const live = await this.engine.history(task.id);
      if (live) {
        for (const event of live.events) job.record(event);
        job.runProgress(task.id).worker = live.worker;
      } else if (task.kind === 'run') {
        const file = path.join(this.config.checkpointsDir, task.id, 'metrics.jsonl');
        if (fs.existsSync(file)) for (const event of await readMetricsFile(file)) job.record(event);
      }
      const run = job.runs.get(task.id);
      const ended = run && run.status !== 'running' && run.status !== 'queued';
      if (ended) continue;
      if (run) {
        run.status = 'queued';
        run.etaSeconds = null;
      }
      this.tasks.set(task.id, { ...task, state: 'queued' });
      pending.push(task);
    }
    this.refresh(job);
    if (!pending.length) await this.endJob(job);
    return pending;
  }

  // ---------------------------------------------------------------------------------------------
  // Submitting

  submitRun(recipe: Recipe, client = 'local'): Promise<Job> {
    const id = this.newId('run');
    const policy = policyName(recipe.policy);
    const name = recipe.name ?? `${policy} on ${path.basename(recipe.data)}`;
    return this.submit({ id, kind: 'run', name, recipe, policySpecs: [recipe.policy], policies: [policy], client }, [{ id, recipe, label: policy }]);
  }

  /** Policies × seeds on one recipe; throws DuplicatePolicyError when two specs share a name. */
  async submitComparison(recipe: Recipe, policySpecs: PolicySpec[], options: { client?: string; seeds?: number[] } = {}): Promise<Job> {
    const policies = policySpecs.map(policyName);
    const duplicate = policies.find((p, i) => policies.indexOf(p) !== i);
    if (duplicate) throw new DuplicatePolicyError(duplicate);
    const id = this.newId('cmp');
    const plans = comparisonPlan(id, recipe, policySpecs, options.seeds?.length ? options.seeds : null);
    const manifest = comparisonManifest(id, recipe, policySpecs, new Date().toISOString());
    return this.submit({ id, kind: 'comparison', name: manifest.name, recipe, policySpecs, policies, client: options.client ?? 'local', createdAt: manifest.createdAt }, plans);
  }

  /** Backbones × datasets × policies × seeds: one run each, one job. */
  async submitSweep(recipe: Recipe, axes: SweepAxes, client = 'local'): Promise<Job> {
    const id = this.newId('sweep');
    const policies = axes.policies.map(policyName);
    const name = recipe.name ?? `sweep: ${axes.backbones.length} backbone(s) × ${axes.datasets.length} dataset(s) × ${policies.length} polic${policies.length === 1 ? 'y' : 'ies'} × ${axes.seeds.length} seed(s)`;
    return this.submit({ id, kind: 'sweep', name, recipe, policySpecs: axes.policies, policies, client }, sweepPlan(id, recipe, axes));
  }

  submitInspect(recipe: Recipe, client = 'local'): Promise<Job> {
    const id = this.newId('inspect');
    const name = `inspect ${path.basename(recipe.data)} with ${recipe.backbone}`;
    return this.submit({ id, kind: 'inspect', name, recipe, policySpecs: [], policies: [], client }, [{ id, recipe, label: 'inspect' }]);
  }

  /** Test-time adaptation of finished run `request.checkpoint` (its recipe: `recipe`), one task. */
  submitAdapt(request: AdaptRequest, recipe: Recipe, client = 'local'): Promise<Job> {
    const id = this.newId('adapt');
    const name = `adapt ${request.checkpoint} (${request.method}) to ${request.corruptions.join(', ')} × severity ${request.severities.join(', ')}`;
    return this.submit({ id, kind: 'adapt', name, recipe, policySpecs: [], policies: [], client, adapt: request }, [{ id, recipe, label: 'adapt' }]);
  }

  /** How many more tasks `client` may queue now (the caps minus what waits). */
  room(client: string): { total: number; client: number } {
    const waiting = [...this.tasks.values()].filter((t) => t.state === 'queued');
    return {
      total: this.maxQueued - waiting.length,
      client: this.maxQueuedPerClient - waiting.filter((t) => t.client === client).length,
    };
  }

  private async submit(
    init: { id: string; kind: JobKind; name: string; recipe: Recipe; policySpecs: PolicySpec[]; policies: string[]; client: string; createdAt?: string; adapt?: AdaptRequest },
    plans: RunPlan[],
  ): Promise<Job> {
    if (this.closed) throw new Error('the run queue is closed');
    const room = this.room(init.client);
    if (plans.length > room.total) throw new QueueFullError(`the queue is full: ${this.maxQueued - room.total} task(s) wait (limit ${this.maxQueued}); this needs room for ${plans.length}`);
    if (plans.length > room.client) {
      throw new QueueFullError(`you have ${this.maxQueuedPerClient - room.client} task(s) waiting (limit ${this.maxQueuedPerClient} per client); this needs room for ${plans.length}`);
    }
    const createdAt = init.createdAt ?? new Date().toISOString();
    const taskKind = init.kind === 'inspect' ? 'inspect' : init.kind === 'adapt' ? 'adapt' : 'run';
    const record: JobRecord = {
      format: 'bnlab-queued-job@1',
      id: init.id,
      kind: init.kind,
      name: init.name,
      createdAt,
      client: init.client,
      recipe: init.recipe,
      policySpecs: init.policySpecs,
      policies: init.policies,
      tasks: plans.map((plan) => ({
        id: plan.id,
        jobId: init.id,
        kind: taskKind,
        recipe: plan.recipe,
        client: init.client,
        submittedAt: createdAt,
        ...(init.adapt ? { adapt: init.adapt } : {}),
        label: plan.label,
        policy: taskKind === 'run' ? policyName(plan.recipe.policy) : null,
      })),
    };
    if (init.kind === 'comparison' || init.kind === 'sweep') {
      // the manifest groups the runs on disk for good (bnlab compare writes the same one)
      const manifest = {
        ...comparisonManifest(init.id, init.recipe, init.policySpecs, createdAt, init.name),
        runIds: plans.map((p) => p.id),
        policies: plans.map((p) => policyName(p.recipe.policy)),
        runPolicies: plans.map((p) => policyName(p.recipe.policy)),
        kind: init.kind,
        labels: plans.map((p) => p.label),
        runRecipes: plans.map((p) => p.recipe),
      };
      await writeComparisonManifest(this.config.checkpointsDir, manifest);
    }
    await saveJobRecord(this.config.checkpointsDir, record);
    const job = this.newJob(record);
    this.jobs.set(job.id, job);
    this.records.set(job.id, record);
    for (const task of record.tasks) {
      this.expectTask(job, task);
      this.tasks.set(task.id, { ...task, state: 'queued' });
    }
    this.emitJob(job);
    for (const task of record.tasks) await this.engine.submit(task);
    await this.engine.announce(record);
    return job;
  }

  /** A job another dashboard took (redis): show it and follow its tasks from their first entry. */
  private onAnnounced(record: JobRecord): void {
    const known = this.jobs.get(record.id);
    if (known && (known.status === 'queued' || known.status === 'running')) return;
    const job = this.newJob(record);
    this.jobs.set(job.id, job);
    this.records.set(job.id, record);
    this.diskSources.delete(job.id);
    for (const task of record.tasks) {
      this.expectTask(job, task);
      this.tasks.set(task.id, { ...task, state: 'queued' });
      this.engine.watch(task.id);
    }
    this.emitJob(job);
  }

  private newJob(record: JobRecord): Job {
    const job = new Job({
      id: record.id,
      kind: record.kind,
      name: record.name,
      recipe: record.recipe,
      policySpecs: record.policySpecs,
      policies: record.policies,
      createdAt: record.createdAt,
      limits: this.limits,
    });
    job.adaptRequest = record.tasks.find((t) => t.adapt)?.adapt ?? null;
    return job;
  }

  private expectTask(job: Job, task: StoredTask): void {
    this.recipes.set(task.id, task.recipe);
    if (task.kind !== 'run') return;
    const run = job.runProgress(task.id);
    run.status = 'queued';
    run.policy = task.policy;
    run.label = task.label;
    this.runToJob.set(task.id, job.id);
  }

  private newId(prefix: string): string {
    for (;;) {
      const id = timestampId(prefix);
      if (!this.jobs.has(id) && !fs.existsSync(path.join(this.config.checkpointsDir, id))) return id;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Looking up

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** The job holding run `runId` (a comparison's member run, or a run job itself). */
  jobOfRun(runId: string): Job | undefined {
    const jobId = this.runToJob.get(runId);
    return jobId ? this.jobs.get(jobId) : undefined;
  }

  /** Newest first. */
  list(kind?: JobKind): JobSummary[] {
    return [...this.jobs.values()]
      .filter((job) => !kind || job.kind === kind)
      .map((job) => this.summaryOf(job))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
  }

  summaryOf(job: Job): JobSummary {
    const summary = job.summary();
    const disk = this.diskSources.get(job.id);
    if (disk) summary.lastSeq = Math.max(summary.lastSeq, disk.lastSeq);
    return summary;
  }

  counts(): { queued: number; running: number; total: number; engine: string } {
    const tasks = [...this.tasks.values()];
    return {
      queued: tasks.filter((t) => t.state === 'queued').length,
      running: tasks.filter((t) => t.state === 'running').length,
      total: this.jobs.size,
      engine: this.engine.name,
    };
  }

  /** The job's full stored history, reading it back from disk first if it came from there. */
  async history(job: Job): Promise<void> {
    const source = this.diskSources.get(job.id);
    if (!source || job.log.size > 0) return;
    let load = this.diskLoads.get(job.id);
    if (!load) {
      load = (async () => {
        const status = job.status;
        await foldDiskEvents(job, source);
        job.status = status;
        this.diskLoaded.push(job.id);
        while (this.diskLoaded.length > this.diskHistoryCacheSize) {
          const evicted = this.jobs.get(this.diskLoaded.shift()!);
          if (evicted && this.diskSources.has(evicted.id)) evicted.dropHistory();
        }
      })().finally(() => this.diskLoads.delete(job.id));
      this.diskLoads.set(job.id, load);
    }
    await load;
  }

  // ---------------------------------------------------------------------------------------------
  // Stopping and resuming

  /** Stop a queued or running job (every task of it: cancel-all); false when it had already ended. */
  stop(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job || (job.status !== 'queued' && job.status !== 'running')) return false;
    job.stopRequested = true;
    const record = this.records.get(id);
    for (const task of record?.tasks ?? []) if (this.tasks.has(task.id)) void this.engine.cancel(task.id);
    return true;
  }

  /**
   * Queue a job's interrupted, failed or stopped runs again; each continues from its last
   * checkpoint (identical results to an uninterrupted run). False when nothing can be resumed.
   */
  async resume(id: string): Promise<boolean> {
    const job = this.jobs.get(id);
    if (!job || job.kind === 'inspect' || job.kind === 'adapt' || job.status === 'queued' || job.status === 'running') return false;
    const runs = [...job.runs.values()].filter((r) => r.status === 'interrupted' || r.status === 'failed' || r.status === 'stopped');
    if (!runs.length) return false;
    await this.history(job); // the resumed job keeps its history in memory from now on
    const client = 'local';
    const createdAt = new Date().toISOString();
    const tasks: StoredTask[] = [];
    for (const run of runs) {
      const recipe = await this.recipeOf(run.runId, job);
      if (!recipe) continue;
      tasks.push({ id: run.runId, jobId: job.id, kind: 'run', recipe, client, submittedAt: createdAt, label: run.label ?? run.policy ?? run.runId, policy: run.policy });
    }
    if (!tasks.length) return false;
    const record: JobRecord = {
      format: 'bnlab-queued-job@1',
      id: job.id,
      kind: job.kind,
      name: job.name,
      createdAt: job.createdAt,
      client,
      recipe: job.recipe ?? tasks[0].recipe,
      policySpecs: job.policySpecs,
      policies: job.policies,
      tasks,
    };
    await saveJobRecord(this.config.checkpointsDir, record);
    this.records.set(job.id, record);
    this.diskSources.delete(job.id);
    job.stopRequested = false;
    job.error = null;
    job.finishedAt = null;
    for (const task of tasks) {
      const run = job.runProgress(task.id);
      run.status = 'queued';
      run.error = null;
      this.tasks.set(task.id, { ...task, state: 'queued' });
    }
    this.refresh(job);
    this.emitJob(job);
    for (const task of tasks) await this.engine.submit(task);
    await this.engine.announce(record);
    return true;
  }

  /** A run's recipe: its checkpoint's (what resume compares against), its first runStarted's, or the submitted one. */
  private async recipeOf(runId: string, job: Job): Promise<Recipe | null> {
    const dir = path.join(this.config.checkpointsDir, runId);
    try {
      const meta = JSON.parse(fs.readFileSync(path.join(dir, RUN_FILES.meta), 'utf8')) as { recipe?: Recipe };
      if (meta.recipe) return meta.recipe;
    } catch {
      // no checkpoint yet
    }
    const file = path.join(dir, 'metrics.jsonl');
    if (fs.existsSync(file)) {
      const started = (await readMetricsFile(file)).find((e) => e.type === 'runStarted');
      if (started?.type === 'runStarted') return started.recipe;
    }
    return this.recipes.get(runId) ?? (job.kind === 'run' ? job.recipe : null);
  }

  /** Stop taking work; running children are let go (their jobs resume after a restart). */
  async close(): Promise<void> {
    this.closed = true;
    await this.engine.close();
  }

  // ---------------------------------------------------------------------------------------------
  // What the engine reports

  private jobOfTask(taskId: string): Job | undefined {
    const task = this.tasks.get(taskId);
    return task ? this.jobs.get(task.jobId) : undefined;
  }

  private onStarted(taskId: string, worker: string): void {
    const task = this.tasks.get(taskId);
    const job = this.jobOfTask(taskId);
    if (!task || !job) return;
    task.state = 'running';
    job.startedAt ??= new Date().toISOString();
    if (task.kind === 'run') {
      const run = job.runProgress(taskId);
      run.status = 'running';
      run.worker = worker;
    }
    this.refresh(job);
    this.emitJob(job);
  }

  private onEvent(taskId: string, event: RunEvent): void {
    const job = this.jobOfTask(taskId);
    if (!job) return;
    this.recordEvent(job, event);
  }

  private onProgress(taskId: string, progress: JobProgress): void {
    const job = this.jobOfTask(taskId);
    if (!job) return;
    job.progress = progress;
    this.emitJob(job);
  }

  private onEnded(taskId: string, outcome: TaskOutcome): void {
    const task = this.tasks.get(taskId);
    const job = this.jobOfTask(taskId);
    if (!task || !job) return;
    this.tasks.delete(taskId);
    if (task.kind === 'inspect' || task.kind === 'adapt') {
      if (task.kind === 'adapt') job.adaptReport = outcome.result as AdaptReport | null; // the adapt task returns adaptAcrossShifts()
      else job.report = outcome.result as RecipeInspection | null; // the inspect task returns inspectRecipe()
      job.status = job.stopRequested ? 'stopped' : outcome.status;
      job.error = outcome.error;
    } else {
      const run = job.runProgress(taskId);
      if (run.status === 'running' || run.status === 'queued') {
        const status = job.stopRequested ? 'stopped' : outcome.status;
        const error = status === 'stopped' ? (outcome.error ?? 'stopped by the user') : (outcome.error ?? 'the run ended without a result');
        this.recordEvent(job, { type: 'runFinished', runId: taskId, status, summary: status === 'completed' ? (outcome.result as never) : null, error });
      }
      if (outcome.status === 'failed' && !job.error) job.error = outcome.error;
      this.refresh(job);
    }
    const left = (this.records.get(job.id)?.tasks ?? []).some((t) => this.tasks.has(t.id));
    if (!left) void this.endJob(job);
    else this.emitJob(job);
  }

  /** The comparison's statistics over its completed runs (stats/comparison-report.ts); null when none completed. */
  private comparisonReportOf(job: Job): ComparisonReport | null {
    const summaries = [...job.runs.values()].flatMap((r) => (r.summary ? [r.summary] : []));
    const detail = job.detail();
    // runs recorded before per-image correctness existed cannot be paired: no report for them
    if (!summaries.length || !detail.recipe || summaries.some((s) => !s.valCorrect)) return null;
    const seeds = [...new Set(summaries.map((s) => s.seed ?? detail.recipe!.seed))].sort((a, b) => a - b);
    const started = Date.parse(job.startedAt ?? job.createdAt);
    const wallSeconds = Number.isFinite(started) ? (Date.now() - started) / 1000 : summaries.reduce((t, s) => t + s.seconds, 0);
    return comparisonReport(job.id, detail.recipe, detail.policySpecs.map(policyName), summaries, wallSeconds, seeds);
  }

  private async endJob(job: Job): Promise<void> {
    job.finishedAt = new Date().toISOString();
    if (job.kind !== 'inspect' && job.kind !== 'adapt') this.refresh(job);
    this.records.delete(job.id);
    this.emitJob(job);
    await removeJobRecord(this.config.checkpointsDir, job.id);
  }

  private recordEvent(job: Job, event: RunEvent): void {
    if (!this.runToJob.has(event.runId)) this.runToJob.set(event.runId, job.id);
    const before = job.runs.get(event.runId)?.status;
    const envelope = job.record(event);
    this.emit('event', job, envelope);
    if (job.runs.get(event.runId)?.status !== before) {
      this.refresh(job);
      this.emitJob(job);
    }
  }

  /** A run or group job's status from its runs' (and whether some run can be resumed). */
  private refresh(job: Job): void {
    if (job.kind === 'inspect' || job.kind === 'adapt') return;
    const statuses = [...job.runs.values()].map((r) => r.status);
    const live = statuses.filter((s) => s === 'queued' || s === 'running');
    let status: JobStatus;
    if (statuses.includes('running')) status = 'running';
    else if (live.length && live.length === statuses.length) status = job.startedAt ? 'running' : 'queued';
    else if (live.length) status = 'running';
    else if (job.stopRequested) status = 'stopped';
    else status = aggregateStatus(statuses);
    if (status === 'failed') job.error ??= [...job.runs.values()].find((r) => r.error)?.error ?? 'a run failed';
    job.status = status;
    job.resumable = !live.length && statuses.some((s) => s === 'interrupted' || s === 'failed' || s === 'stopped');
    // once every run has ended (before the summary saying so goes out), the statistics over seeds
    if (job.kind === 'comparison') job.comparisonReport = live.length ? null : this.comparisonReportOf(job);
  }

  private emitJob(job: Job): void {
    this.emit('job', this.summaryOf(job));
  }
}

export class DuplicatePolicyError extends Error {
  constructor(readonly policy: string) {
    super(`policy '${policy}' appears twice; each policy of a comparison must be different`);
    this.name = 'DuplicatePolicyError';
  }
}

/** The queue cap (total or per client) would be exceeded: answered 429. */
export class QueueFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueFullError';
  }
}
