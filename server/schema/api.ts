/**
 * The dashboard's REST bodies. Types only, so the client imports this file without pulling server
 * code into its bundle. Run events come from events.ts; the server wraps each in an envelope with a
 * per-job sequence number so a reconnecting client can ask for exactly what it missed.
 */
import type { ComparisonReport } from './comparison.ts';
import type { RunEvent, RunSummary } from './events.ts';
import type { RecipeInspection } from './inspect-report.ts';
import type { AdaptProgress, AdaptReport, AdaptRequest } from './adapt-report.ts';
import type { Preprocessing } from './preprocessing.ts';
import type { DatasetLayout, PolicySpec, Recipe } from './recipe.ts';

/**
 * A unit of work the dashboard shows: one training run, one policy comparison (policies × seeds),
 * a sweep (backbones × datasets × policies × seeds), one inspect pass, or one adapt job (test-time
 * adaptation of a finished run over corruptions × severities). Comparisons and sweeps
 * are one queued task per run, aggregated when all are done.
 */
export type JobKind = 'run' | 'comparison' | 'sweep' | 'inspect' | 'adapt';

/**
 * queued → running → completed | failed | stopped. 'interrupted' marks a run found on disk at
 * startup whose metrics file never recorded an end (the server or its worker died mid-run).
 */
export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'stopped' | 'interrupted';

/** One run event as it travels: `seq` increases by one per event within a job, starting at 1. */
export interface EventEnvelope {
  seq: number;
  event: RunEvent;
}

/** Progress of one run inside a job, derived from its events. */
export interface RunProgress {
  runId: string;
  policy: string | null;
  status: JobStatus;
  step: number;
  totalSteps: number | null;
  epoch: number;
  summary: RunSummary | null;
  error: string | null;
  /** How the job names this run ("train-bn · seed 1"); null: by its policy. */
  label: string | null;
  /** The worker running (or that last ran) it: `host:pid`, or `embedded:pid` for the dashboard's own. */
  worker: string | null;
  /** Seconds left at the pace of the steps seen so far; null when unknown or not running. */
  etaSeconds: number | null;
}

export interface JobSummary {
  id: string;
  kind: JobKind;
  status: JobStatus;
  name: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The policies asked for (one for a run, several for a comparison). */
  policies: string[];
  runs: RunProgress[];
  /** Highest event sequence number stored for this job (0 when none). */
  lastSeq: number;
  error: string | null;
  /** True when this job was read back from the checkpoints folder rather than run by this server. */
  fromDisk: boolean;
  /** Runs that can be resumed from their checkpoint (interrupted, failed or stopped). */
  resumable: boolean;
}

export interface JobDetail extends JobSummary {
  recipe: Recipe | null;
  policySpecs: PolicySpec[];
  /** Set when the request named one run of a comparison rather than the job. */
  run?: RunProgress;
  /** comparisons, once every run has ended: per-policy means, 95 % intervals, paired verdicts */
  comparison?: ComparisonReport | null;
}

export interface DemoDescription {
  recipe: Recipe;
  policies: string[];
}

export interface MetricsResponse {
  id: string;
  /** The job this run belongs to (equal to id unless id names one run of a comparison). */
  jobId: string;
  lastSeq: number;
  events: EventEnvelope[];
}

/** A folder under a data root that looks like an image dataset. */
export interface DataFolder {
  /** Absolute real path: pass it as the recipe's `data`. */
  path: string;
  /** The data root it lives in, and its path relative to that root. */
  root: string;
  relative: string;
  layout: DatasetLayout;
  classes: string[];
  imageCount: number;
  /** false when a run on it would be refused (e.g. one class folder); `problem` says why */
  trainable: boolean;
  problem: string | null;
}

export interface DataListing {
  roots: string[];
  /** The folder listed (absolute real path), or null when listing every root. */
  folder: string | null;
  datasets: DataFolder[];
  /** Plain sub-folders of `folder` that are not datasets themselves, for browsing. */
  subfolders: string[];
  truncated: boolean;
  /** The embedded demo dataset's folder; it is generated on its first use. */
  demo: { path: string; ready: boolean };
}

/** A backbone the new-run form offers (from the registry, the models folder or the cache). */
export interface BackboneOption {
  name: string;
  description: string;
  registered: boolean;
  /** where it would load from: 'models-dir' | 'cache' | 'bundled' | 'download', or null (nowhere) */
  location: string | null;
  availableOffline: boolean;
}

export interface FieldError {
  field: string;
  message: string;
}

/** Every 4xx/5xx body: a sentence, and for validation failures the field that is wrong. */
export interface ErrorBody {
  error: string;
  fields?: FieldError[];
}

/** Progress of an inspect pass: BN-input statistics gathered over this many batches/images. */
export interface InspectProgress {
  batches: number;
  images: number;
}

/** What a worker child reports while a job without run events works: inspect or adapt progress. */
export type JobProgress = InspectProgress | AdaptProgress;

export interface InspectJobResponse {
  id: string;
  status: JobStatus;
  progress: InspectProgress | null;
  report: RecipeInspection | null;
  error: string | null;
}

/** GET /api/adapt/:id: an adapt job's request, progress and (once completed) report. */
export interface AdaptJobResponse {
  id: string;
  status: JobStatus;
  request: AdaptRequest | null;
  progress: AdaptProgress | null;
  report: AdaptReport | null;
  error: string | null;
}

/** GET /api/runs lists jobs with what the runs table shows besides the summary. */
export interface JobListing extends JobSummary {
  /** the recipe's backbone and data folder (null when the job has no recipe on record) */
  backbone: string | null;
  data: string | null;
}

/** A file of a run folder the dashboard offers for download. */
export interface RunFile {
  name: string;
  bytes: number;
}

/** GET /api/runs/:id/files: the run folder of each run of a job, as stored on disk. */
export interface RunFolder {
  runId: string;
  /** absolute path of `<checkpoints>/<runId>` */
  dir: string;
  exists: boolean;
  /** from checkpoint.json; null when no checkpoint was written */
  preprocessing: Preprocessing | null;
  classes: string[];
  inputSize: number | null;
  /** model.json and the weights it names: the exported model */
  modelFiles: string[];
  files: RunFile[];
}

export interface RunFilesResponse {
  jobId: string;
  folders: RunFolder[];
}

/** POST /api/runs/:id/predict (an image body): the checkpoint's top classes for it. */
export interface PredictResponse {
  runId: string;
  top: { label: string; probability: number }[];
}
