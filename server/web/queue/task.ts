/**
 * The unit a queue delivers and a worker runs: one training run, one inspect pass or one adapt job. A comparison
 * or a sweep is several tasks (one per run) grouped under one dashboard job; the group is the
 * dashboard's business, the engines only see tasks.
 *
 * Task id = run id (or inspect id). Delivery is at least once: a task can start twice (its worker
 * was killed, its lock expired). That is safe because every delivery runs with `--resume`
 * semantics: the run lock refuses a second writer, a run with a checkpoint continues from it, and a
 * run whose checkpoint says completed is a no-op (task-runner.ts).
 */
import type { AdaptRequest } from '../../schema/adapt-report.ts';
import type { JobKind, JobProgress } from '../../schema/api.ts';
import type { RunEvent } from '../../schema/events.ts';
import type { PolicySpec, Recipe } from '../../schema/recipe.ts';

export interface QueueTask {
  id: string;
  /** The dashboard job it belongs to (its own id for a single run). */
  jobId: string;
  kind: 'run' | 'inspect' | 'adapt';
  /** for an adapt task: the source run's recipe */
  recipe: Recipe;
  /** adapt tasks: what to adapt and measure */
  adapt?: AdaptRequest;
  /** Who submitted it (the per-client cap counts these). */
  client: string;
  submittedAt: string;
}

export interface StoredTask extends QueueTask {
  /** How the dashboard names the run inside its job ("train-bn · seed 1"). */
  label: string;
  policy: string | null;
}

export interface JobRecord {
  format: 'bnlab-queued-job@1';
  id: string;
  kind: JobKind;
  name: string;
  createdAt: string;
  client: string;
  recipe: Recipe;
  policySpecs: PolicySpec[];
  policies: string[];
  tasks: StoredTask[];
}

export type TaskStatus = 'completed' | 'failed' | 'stopped';

export interface TaskOutcome {
  status: TaskStatus;
  /** The worker's return value (a RunSummary, an inspect report), null when none. */
  result: unknown;
  error: string | null;
}

/** What an engine reports back to the dashboard's queue, in order per task. */
export interface EngineCallbacks {
  onStarted(taskId: string, worker: string): void;
  onEvent(taskId: string, event: RunEvent): void;
  onProgress(taskId: string, progress: JobProgress): void;
  onEnded(taskId: string, outcome: TaskOutcome): void;
  /** Another dashboard submitted this job (redis): show it here too. */
  onAnnounced(record: JobRecord): void;
}

/**
 * One queue interface, two engines: `embedded` (this process supervises the worker children; jobs
 * persisted on disk, see job-store.ts) and `redis` (BullMQ; `bnlab worker` processes anywhere).
 */
export interface QueueEngine {
  readonly name: 'embedded' | 'redis';
  start(callbacks: EngineCallbacks): Promise<void>;
  /** Queue a task; a task id already queued or running is not queued twice. */
  submit(task: QueueTask): Promise<void>;
  /** Tell the other dashboards about a new job (redis; embedded has no others). */
  announce(record: JobRecord): Promise<void>;
  /** Report a task some other dashboard submitted, from its first entry on. */
  watch(taskId: string): void;
  /** Stop a queued or running task (its end is reported through onEnded). */
  cancel(taskId: string): Promise<void>;
  /** Events a live task has already produced, when the engine keeps them (redis); null: read the disk. */
  history(taskId: string): Promise<{ worker: string | null; events: RunEvent[] } | null>;
  /** Stop taking work and let go of running children (they are resumed later, not lost). */
  close(): Promise<void>;
}
