/**
 * One dashboard job (a run, a comparison of policies, or an inspect pass) and what the server knows
 * about it: status, per-run progress folded from its events, and the numbered event history.
 * Plain state; the queue decides when things happen, this only records them.
 */
import type { AdaptReport, AdaptRequest } from '../../schema/adapt-report.ts';
import type { ComparisonReport } from '../../schema/comparison.ts';
import type { RecipeInspection } from '../../schema/inspect-report.ts';
import type { RunEvent } from '../../schema/events.ts';
import type { PolicySpec, Recipe } from '../../schema/recipe.ts';
import { EventLog, type EventLogLimits } from './event-log.ts';
import type { EventEnvelope, JobProgress, JobDetail, JobKind, JobStatus, JobSummary, RunProgress } from '../../schema/api.ts';

export interface JobInit {
  id: string;
  kind: JobKind;
  name: string;
  recipe: Recipe | null;
  policySpecs: PolicySpec[];
  policies: string[];
  createdAt?: string;
  fromDisk?: boolean;
  limits?: EventLogLimits;
}

export class Job {
  readonly id: string;
  readonly kind: JobKind;
  readonly name: string;
  readonly recipe: Recipe | null;
  readonly policySpecs: PolicySpec[];
  readonly policies: string[];
  readonly createdAt: string;
  readonly fromDisk: boolean;
  status: JobStatus = 'queued';
  startedAt: string | null = null;
  finishedAt: string | null = null;
  error: string | null = null;
  stopRequested = false;
  /** inspect and adapt jobs: latest progress report and the final report; comparison jobs: the ComparisonReport */
  progress: JobProgress | null = null;
  report: RecipeInspection | null = null;
  /** comparison jobs: per-policy means, intervals and paired verdicts once every run has ended */
  comparisonReport: ComparisonReport | null = null;
  /** adapt jobs: the request and the report */
  adaptRequest: AdaptRequest | null = null;
  adaptReport: AdaptReport | null = null;
  log: EventLog;
  readonly runs = new Map<string, RunProgress>();
  /** Set by the queue: whether some run can continue from its checkpoint. */
  resumable = false;
  private readonly limits?: EventLogLimits;
  /** Per run: when (ms) and at which step live step timing started, for the ETA. */
  private readonly pace = new Map<string, { atMs: number; step: number }>();

  constructor(init: JobInit) {
    this.id = init.id;
    this.kind = init.kind;
    this.name = init.name;
    this.recipe = init.recipe;
    this.policySpecs = init.policySpecs;
    this.policies = init.policies;
    this.createdAt = init.createdAt ?? new Date().toISOString();
    this.fromDisk = init.fromDisk ?? false;
    this.limits = init.limits;
    this.log = new EventLog(init.limits);
  }

  /** Number the event, store it, and fold it into the run's progress. */
  record(event: RunEvent): EventEnvelope {
    const run = this.runProgress(event.runId);
    switch (event.type) {
      case 'runStarted':
        run.status = 'running';
        run.totalSteps = event.totalSteps;
        run.policy = event.policy.name;
        run.etaSeconds = null;
        this.pace.delete(event.runId);
        break;
      case 'stepEnd': {
        run.step = event.step;
        run.epoch = event.epoch;
        // ETA from the wall-clock pace of the steps received since the (re)start, first one excluded.
        const now = Date.now();
        const pace = this.pace.get(event.runId);
        if (!pace) this.pace.set(event.runId, { atMs: now, step: event.step });
        else if (run.totalSteps !== null && event.step > pace.step) {
          run.etaSeconds = Math.max(0, ((now - pace.atMs) / (event.step - pace.step) / 1000) * (run.totalSteps - event.step));
        }
        break;
      }
      case 'epochEnd':
        run.epoch = event.epoch;
        break;
      case 'runFinished':
        run.status = event.status;
        run.summary = event.summary;
        run.error = event.error ?? null;
        run.etaSeconds = null;
        break;
      default:
        break;
    }
    return this.log.append(event);
  }

  runProgress(runId: string): RunProgress {
    let run = this.runs.get(runId);
    if (!run) {
      run = { runId, policy: null, status: 'running', step: 0, totalSteps: null, epoch: 0, summary: null, error: null, label: null, worker: null, etaSeconds: null };
      this.runs.set(runId, run);
    }
    return run;
  }

  /** Runs that started but never reported an end (used when a worker dies under them). */
  unfinishedRuns(): RunProgress[] {
    return [...this.runs.values()].filter((r) => r.status === 'running' || r.status === 'queued');
  }

  /** Forget the in-memory history (for jobs read from disk, which can load it again). */
  dropHistory(): void {
    this.log = new EventLog(this.limits);
  }

  summary(): JobSummary {
    return {
      id: this.id,
      kind: this.kind,
      status: this.status,
      name: this.name,
      createdAt: this.createdAt,
      startedAt: this.startedAt,
      finishedAt: this.finishedAt,
      policies: this.policies,
      runs: [...this.runs.values()].map((r) => ({ ...r })),
      lastSeq: this.log.lastSeq,
      error: this.error,
      fromDisk: this.fromDisk,
      resumable: this.resumable,
    };
  }

  detail(): JobDetail {
    return { ...this.summary(), recipe: this.recipe, policySpecs: this.policySpecs, comparison: this.comparisonReport };
  }
}
