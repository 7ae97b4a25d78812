/**
 * The dashboard's job queue. Jobs (runs, comparisons, inspect passes) run `concurrency` at a time
 * (1 by default: training uses every core), each in its own child process started as
 * `process.execPath --import tsx run-worker.ts` with an IPC channel, so the server's event loop stays
 * free during a step and a crashing or killed run cannot take the server down: its exit code or
 * signal becomes a `runFinished` event with status 'failed' like any other.
 *
 * Events from the child are numbered and stored per job (job.ts, event-log.ts) and re-emitted as
 * `'event'` (job, envelope); status changes are emitted as `'job'` (JobSummary).
 * Finished runs are read back from the checkpoints folder at startup (run-history.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BnlabConfig } from '../config.ts';
import { policyName } from '../policies/resolve.ts';
import type { PolicySpec, Recipe, RunEvent } from '../schema.ts';
import type { EventLogLimits } from './event-log.ts';
import { Job } from './job.ts';
import type { EventEnvelope, JobKind, JobStatus, JobSummary } from './protocol.ts';
import {
  readComparisonManifests,
  readMetricsFile,
  scanCheckpoints,
  comparisonManifest,
  writeComparisonManifest,
} from './run-history.ts';
import type { ChildMessage, ParentMessage, WorkerJob } from './worker-protocol.ts';

export const DEFAULT_WORKER_FILE = fileURLToPath(new URL('./run-worker.ts', import.meta.url));

export interface RunQueueOptions {
  config: BnlabConfig;
  /** Script the child process runs (a module that calls serveJobs). */
  workerFile?: string;
  /** Jobs running at once. */
  concurrency?: number;
  /** After a stop request, how long a worker may take to wind down before SIGKILL. */
  stopGraceMs?: number;
  /** Copy the worker's stdout/stderr to this process's stderr (the CLI server does; tests don't). */
  echoWorkerOutput?: boolean;
  limits?: EventLogLimits;
  /** How many jobs read from disk keep their full history in memory at once. */
  diskHistoryCacheSize?: number;
}

export interface RunQueueEvents {
  event: [job: Job, envelope: EventEnvelope];
  job: [summary: JobSummary];
}

interface ActiveWorker {
  child: ChildProcess;
  resultReceived: boolean;
  failure: string | null;
  stderrTail: string[];
  killTimer: NodeJS.Timeout | null;
  exited: Promise<void>;
}

interface DiskSource {
  files: string[];
  expectedRunIds: string[];
  lastSeq: number;
}

const STDERR_TAIL_LINES = 20;

/** Resolve tsx's loader to a file URL so the child finds it whatever its working directory. */
function tsxLoader(): string {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
}

function timestampId(prefix: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${prefix}-${stamp}-${randomBytes(2).toString('hex')}`;
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `the training worker was killed by signal ${signal}` : `the training worker exited with code ${code}`;
}

export class RunQueue extends EventEmitter<RunQueueEvents> {
  private readonly config: BnlabConfig;
  private readonly workerFile: string;
  private readonly concurrency: number;
  private readonly stopGraceMs: number;
  private readonly echoWorkerOutput: boolean;
  private readonly limits?: EventLogLimits;
  private readonly diskHistoryCacheSize: number;
  private readonly jobs = new Map<string, Job>();
  private readonly runToJob = new Map<string, string>();
  private readonly waiting: Job[] = [];
  private readonly active = new Map<string, ActiveWorker>();
  private readonly diskSources = new Map<string, DiskSource>();
  private readonly diskLoads = new Map<string, Promise<void>>();
  private readonly diskLoaded: string[] = [];
  private closed = false;

  constructor(options: RunQueueOptions) {
    super();
    this.config = options.config;
    this.workerFile = options.workerFile ?? DEFAULT_WORKER_FILE;
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.stopGraceMs = options.stopGraceMs ?? 15_000;
    this.echoWorkerOutput = options.echoWorkerOutput ?? false;
    this.limits = options.limits;
    this.diskHistoryCacheSize = options.diskHistoryCacheSize ?? 8;
  }

  // ---------------------------------------------------------------------------------------------
  // Submitting

  submitRun(recipe: Recipe): Job {
    const id = this.newId('run');
    const policy = policyName(recipe.policy);
    const job = new Job({
      id,
      kind: 'run',
      name: recipe.name ?? `${policy} on ${path.basename(recipe.data)}`,
      recipe,
      policySpecs: [recipe.policy],
      policies: [policy],
      limits: this.limits,
    });
    this.expectRun(job, id, policy);
    return this.enqueue(job);
  }

  /** Throws when two specs share a display name (their run folders would collide). */
  async submitComparison(recipe: Recipe, policySpecs: PolicySpec[]): Promise<Job> {
    const policies = policySpecs.map(policyName);
    const duplicate = policies.find((p, i) => policies.indexOf(p) !== i);
    if (duplicate) throw new DuplicatePolicyError(duplicate);
    const id = this.newId('cmp');
    const manifest = comparisonManifest(id, recipe, policySpecs, new Date().toISOString());
    const job = new Job({
      id,
      kind: 'comparison',
      name: manifest.name,
      createdAt: manifest.createdAt,
      recipe,
      policySpecs,
      policies,
      limits: this.limits,
    });
    manifest.runIds.forEach((runId, i) => this.expectRun(job, runId, manifest.runPolicies?.[i] ?? policies[i]));
    await writeComparisonManifest(this.config.checkpointsDir, manifest);
    return this.enqueue(job);
  }

  submitInspect(recipe: Recipe): Job {
    const job = new Job({
      id: this.newId('inspect'),
      kind: 'inspect',
      name: `inspect ${path.basename(recipe.data)} with ${recipe.backbone}`,
      recipe,
      policySpecs: [],
      policies: [],
      limits: this.limits,
    });
    return this.enqueue(job);
  }

  private expectRun(job: Job, runId: string, policy: string): void {
    const run = job.runProgress(runId);
    run.status = 'queued';
    run.policy = policy;
    this.runToJob.set(runId, job.id);
  }

  private newId(prefix: string): string {
    for (;;) {
      const id = timestampId(prefix);
      if (!this.jobs.has(id) && !fs.existsSync(path.join(this.config.checkpointsDir, id))) return id;
    }
  }

  private enqueue(job: Job): Job {
    if (this.closed) throw new Error('the run queue is closed');
    this.jobs.set(job.id, job);
    this.waiting.push(job);
    this.emitJob(job);
    this.pump();
    return job;
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

  counts(): { queued: number; running: number; total: number } {
    return { queued: this.waiting.length, running: this.active.size, total: this.jobs.size };
  }

  /** The job's full stored history, reading it back from disk first if it came from there. */
  async history(job: Job): Promise<void> {
    const source = this.diskSources.get(job.id);
    if (!source || job.log.size > 0) return;
    let load = this.diskLoads.get(job.id);
    if (!load) {
      load = (async () => {
        await this.foldDiskEvents(job, source);
        this.diskLoaded.push(job.id);
        while (this.diskLoaded.length > this.diskHistoryCacheSize) {
          const evicted = this.jobs.get(this.diskLoaded.shift()!);
          evicted?.dropHistory();
        }
      })().finally(() => this.diskLoads.delete(job.id));
      this.diskLoads.set(job.id, load);
    }
    await load;
  }

  // ---------------------------------------------------------------------------------------------
  // Stopping

  /** Stop a queued or running job; returns false when it had already ended. */
  stop(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job || (job.status !== 'queued' && job.status !== 'running')) return false;
    job.stopRequested = true;
    if (job.status === 'queued') {
      this.waiting.splice(this.waiting.indexOf(job), 1);
      this.endUnfinishedRuns(job, 'stopped', 'stopped before it started');
      job.status = 'stopped';
      job.finishedAt = new Date().toISOString();
      this.emitJob(job);
      return true;
    }
    const worker = this.active.get(id);
    if (worker) {
      this.sendTo(worker.child, { type: 'stop' });
      worker.killTimer ??= setTimeout(() => worker.child.kill('SIGKILL'), this.stopGraceMs);
    }
    return true;
  }

  /** Kill running workers, drop queued jobs, wait for the children to exit. */
  async close(): Promise<void> {
    this.closed = true;
    this.waiting.length = 0;
    const exits = [...this.active.values()].map((worker) => {
      worker.child.kill('SIGKILL');
      return worker.exited;
    });
    await Promise.all(exits);
  }

  // ---------------------------------------------------------------------------------------------
  // Running

  private pump(): void {
    while (!this.closed && this.active.size < this.concurrency && this.waiting.length > 0) {
      this.start(this.waiting.shift()!);
    }
  }

  private workerJob(job: Job): WorkerJob {
    const recipe = job.recipe!;
    const config = this.config;
    if (job.kind === 'run') return { kind: 'run', runId: job.id, recipe, config };
    if (job.kind === 'comparison') {
      return { kind: 'comparison', comparisonId: job.id, recipe, policies: job.policySpecs, config };
    }
    return { kind: 'inspect', inspectId: job.id, recipe, config };
  }

  private start(job: Job): void {
    job.status = 'running';
    job.startedAt = new Date().toISOString();
    const child = fork(this.workerFile, [], {
      execArgv: ['--import', tsxLoader()],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    let resolveExit!: () => void;
    const worker: ActiveWorker = {
      child,
      resultReceived: false,
      failure: null,
      stderrTail: [],
      killTimer: null,
      exited: new Promise((resolve) => (resolveExit = resolve)),
    };
    this.active.set(job.id, worker);
    this.emitJob(job);

    const keepTail = (chunk: Buffer) => {
      const lines = chunk.toString('utf8').split('\n').filter((l) => l.trim());
      worker.stderrTail.push(...lines);
      worker.stderrTail.splice(0, Math.max(0, worker.stderrTail.length - STDERR_TAIL_LINES));
      if (this.echoWorkerOutput) process.stderr.write(lines.map((l) => `[${job.id}] ${l}\n`).join(''));
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      if (this.echoWorkerOutput) process.stderr.write(`[${job.id}] ${chunk.toString('utf8')}`);
    });
    child.stderr?.on('data', keepTail);

    child.on('message', (message: ChildMessage) => this.onChildMessage(job, worker, message));
    let finished = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (finished) return;
      finished = true;
      if (worker.killTimer) clearTimeout(worker.killTimer);
      this.active.delete(job.id);
      this.onWorkerExit(job, worker, code, signal, spawnError);
      resolveExit();
      this.pump();
    };
    child.on('exit', (code, signal) => finish(code, signal));
    child.on('error', (error) => {
      // 'error' without a process (spawn failed) is followed by no 'exit'
      if (child.pid === undefined) finish(null, null, error);
    });
  }

  private onChildMessage(job: Job, worker: ActiveWorker, message: ChildMessage): void {
    switch (message?.type) {
      case 'ready':
        this.sendTo(worker.child, { type: 'start', job: this.workerJob(job) });
        if (job.stopRequested) this.sendTo(worker.child, { type: 'stop' });
        break;
      case 'event':
        this.recordEvent(job, message.event);
        break;
      case 'progress':
        job.progress = message.progress;
        this.emitJob(job);
        break;
      case 'result':
        worker.resultReceived = true;
        if (job.kind === 'inspect' || job.kind === 'comparison') job.report = message.result; // comparison: a ComparisonReport
        break;
      case 'failed':
        worker.failure = message.error;
        break;
      default:
        break;
    }
  }

  private recordEvent(job: Job, event: RunEvent): void {
    if (!event || typeof event.runId !== 'string' || typeof event.type !== 'string') return;
    if (!this.runToJob.has(event.runId)) this.runToJob.set(event.runId, job.id);
    const before = job.runs.get(event.runId)?.status;
    const envelope = job.record(event);
    this.emit('event', job, envelope);
    if (job.runs.get(event.runId)?.status !== before) this.emitJob(job);
  }

  private onWorkerExit(
    job: Job,
    worker: ActiveWorker,
    code: number | null,
    signal: NodeJS.Signals | null,
    spawnError?: Error,
  ): void {
    const crashed = !worker.resultReceived && worker.failure === null;
    let reason = worker.failure ?? (spawnError ? `could not start the training worker: ${spawnError.message}` : null);
    if (crashed && !spawnError) {
      const tail = worker.stderrTail.slice(-5).join('\n');
      reason = `${describeExit(code, signal)}${tail ? `\n${tail}` : ''}`;
    }
    if (job.stopRequested) {
      this.endUnfinishedRuns(job, 'stopped', 'stopped by the user');
      job.status = 'stopped';
    } else {
      this.endUnfinishedRuns(job, 'failed', reason ?? describeExit(code, signal));
      const runFailed = [...job.runs.values()].some((r) => r.status === 'failed');
      job.status = worker.resultReceived && !runFailed ? 'completed' : 'failed';
      if (job.status === 'failed') job.error = reason ?? 'a run failed';
    }
    job.finishedAt = new Date().toISOString();
    this.emitJob(job);
  }

  /** Give every run that never reported an end a runFinished event, as if the worker had sent it. */
  private endUnfinishedRuns(job: Job, status: 'failed' | 'stopped', error: string): void {
    for (const run of job.unfinishedRuns()) {
      this.recordEvent(job, { type: 'runFinished', runId: run.runId, status, summary: null, error });
    }
  }

  private sendTo(child: ChildProcess, message: ParentMessage): void {
    if (child.connected) child.send(message, (error) => void error); // a dead child is handled by 'exit'
  }

  private emitJob(job: Job): void {
    this.emit('job', this.summaryOf(job));
  }

  // ---------------------------------------------------------------------------------------------
  // History on disk

  /** Read finished (and interrupted) runs and comparisons from the checkpoints folder. */
  async loadHistory(): Promise<number> {
    const [runs, manifests] = await Promise.all([
      scanCheckpoints(this.config.checkpointsDir),
      readComparisonManifests(this.config.checkpointsDir),
    ]);
    const byRunId = new Map(runs.map((r) => [r.runId, r]));
    const grouped = new Set<string>();
    let loaded = 0;
    for (const manifest of manifests) {
      if (this.jobs.has(manifest.comparisonId)) continue;
      const files = manifest.runIds.filter((id) => byRunId.has(id)).map((id) => byRunId.get(id)!.metricsFile);
      manifest.runIds.forEach((id) => grouped.add(id));
      const job = new Job({
        id: manifest.comparisonId,
        kind: 'comparison',
        name: manifest.name,
        recipe: manifest.recipe,
        policySpecs: manifest.policySpecs,
        policies: manifest.policies,
        createdAt: manifest.createdAt,
        fromDisk: true,
        limits: this.limits,
      });
      manifest.runIds.forEach((runId, i) => this.expectRun(job, runId, manifest.runPolicies?.[i] ?? manifest.policies[i] ?? runId));
      await this.addDiskJob(job, { files, expectedRunIds: manifest.runIds, lastSeq: 0 });
      loaded += 1;
    }
    for (const run of runs) {
      if (grouped.has(run.runId) || this.jobs.has(run.runId) || this.runToJob.has(run.runId)) continue;
      const recipe = run.meta?.recipe ?? null;
      const policy = recipe ? policyName(recipe.policy) : 'unknown';
      const job = new Job({
        id: run.runId,
        kind: 'run',
        name: recipe?.name ?? run.runId,
        recipe,
        policySpecs: recipe ? [recipe.policy] : [],
        policies: [policy],
        createdAt: new Date(run.modifiedMs).toISOString(),
        fromDisk: true,
        limits: this.limits,
      });
      this.expectRun(job, run.runId, policy);
      await this.addDiskJob(job, { files: [run.metricsFile], expectedRunIds: [run.runId], lastSeq: 0 });
      loaded += 1;
    }
    return loaded;
  }

  private async addDiskJob(job: Job, source: DiskSource): Promise<void> {
    await this.foldDiskEvents(job, source);
    source.lastSeq = job.log.lastSeq;
    this.diskSources.set(job.id, source);
    this.jobs.set(job.id, job);
    // Keep only the status; the history is read again when someone asks for it.
    job.dropHistory();
  }

  private async foldDiskEvents(job: Job, source: DiskSource): Promise<void> {
    const perFile = await Promise.all(source.files.map(readMetricsFile));
    for (const events of perFile) for (const event of events) job.record(event);
    // A run that started but never wrote runFinished was cut off (server or worker killed).
    for (const runId of source.expectedRunIds) {
      const run = job.runProgress(runId);
      if (run.status === 'running' || run.status === 'queued') run.status = 'interrupted';
    }
    job.status = aggregateStatus([...job.runs.values()].map((r) => r.status));
    job.error = [...job.runs.values()].find((r) => r.error)?.error ?? null;
    job.finishedAt ??= job.createdAt;
  }
}

/** A finished job's status from its runs': any failure wins, then stop, then interruption. */
function aggregateStatus(statuses: JobStatus[]): JobStatus {
  for (const status of ['failed', 'stopped', 'interrupted'] as const) if (statuses.includes(status)) return status;
  return statuses.length ? 'completed' : 'interrupted';
}

export class DuplicatePolicyError extends Error {
  constructor(readonly policy: string) {
    super(`policy '${policy}' appears twice; each policy of a comparison must be different`);
    this.name = 'DuplicatePolicyError';
  }
}
