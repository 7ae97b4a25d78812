/**
 * Run events: typed data the training loop emits; the CLI progress bar, the metrics file
 * (runs/files.ts) and the dashboard's socket are listeners. One discriminated union (`type`).
 */
import type { Preprocessing } from './preprocessing.ts';
import type { Recipe, ResizeMode } from './recipe.ts';

/** Drift of one BN layer's running statistics from the pretrained reference (see stats/drift.ts). */
export interface BnLayerDrift {
  layer: string;
  /** mean_c |mu - mu0| / sqrt(var0 + eps) */
  meanShift: number;
  /** mean_c |log((var + eps) / (var0 + eps))| */
  logVarRatio: number;
  /** mean_c symmetric KL between N(mu, var + eps) and N(mu0, var0 + eps) */
  symmetricKl: number;
  /** mean_c |mu_batch - mu| / sqrt(var + eps) for the last batch seen; null if not measured */
  batchGap: number | null;
  /** ||gamma - gamma0|| / sqrt(C), ||beta - beta0|| / sqrt(C) */
  gammaChange: number;
  betaChange: number;
}

export interface RunStartedEvent {
  type: 'runStarted';
  runId: string;
  time: string;
  recipe: Recipe;
  backend: string;
  backbone: { name: string; inputSize: number; bnLayers: string[]; preprocessing?: Preprocessing; cutLayer?: string };
  classes: string[];
  trainCount: number;
  valCount: number;
  stepsPerEpoch: number;
  totalSteps: number;
  policy: PolicySummary;
  /** how pixels reach the network: resize mode and the backbone entry's normalisation */
  preprocessing?: PreprocessingSummary;
}

export interface PreprocessingSummary {
  resize: ResizeMode;
  normalisation: Preprocessing;
  /** e.g. "x / 127.5 - 1 (range [-1, 1])" */
  formula: string;
  inputSize: number;
}

/** Verdict of server/train/convergence.ts on a finished run's per-epoch train and val loss. */
export interface ConvergenceReport {
  /** false: loss still falling at the end; null: too few epochs to tell */
  converged: boolean | null;
  /** relative train-loss change per epoch over the last epochs (negative = falling) */
  relativeSlope: number | null;
  reason: string;
}

/** What a policy decided, layer by layer: the explicit semantics of the run. */
export interface PolicySummary {
  name: string;
  description: string;
  trainableLayers: string[];
  bnTrainMode: string[];
  bnAffineTrainable: string[];
  bnMomentumKeras: number | null;
}

export interface StepEndEvent {
  type: 'stepEnd';
  runId: string;
  step: number;
  epoch: number;
  loss: number;
  accuracy: number;
  lr: number;
  msPerImage: number;
}

export interface BnStatsEvent {
  type: 'bnStats';
  runId: string;
  step: number;
  epoch: number;
  layers: BnLayerDrift[];
}

export interface EpochEndEvent {
  type: 'epochEnd';
  runId: string;
  epoch: number;
  step: number;
  train: { loss: number; accuracy: number };
  val: { loss: number; accuracy: number };
  /** val accuracy with training-mode BN (batch statistics): the train/inference gap */
  valTrainModeAccuracy: number | null;
}

export interface LogEvent {
  type: 'log';
  runId: string;
  level: 'info' | 'warn' | 'error';
  code?: string;
  message: string;
}

export interface CheckpointEvent {
  type: 'checkpoint';
  runId: string;
  step: number;
  dir: string;
}

export interface RunFinishedEvent {
  type: 'runFinished';
  runId: string;
  status: 'completed' | 'failed' | 'stopped';
  summary: RunSummary | null;
  error?: string;
}

export interface RunSummary {
  runId: string;
  policy: string;
  valAccuracy: number;
  valLoss: number;
  valTrainModeAccuracy: number | null;
  seconds: number;
  steps: number;
  /** sum over BN layers of meanShift at the end of the run */
  totalMeanShift: number;
  skippedFiles: { path: string; reason: string }[];
  checkpointDir: string;
  /** run seed and split seed (issue 10) */
  seed?: number;
  dataSeed?: number;
  /** per val image in split order: '1' right, '0' wrong, '-' not scored (for paired verdicts) */
  valCorrect?: string;
  /** epochs trained (fewer than the recipe's only with earlyStopping) */
  epochs?: number;
  stoppedEarly?: { epoch: number; reason: string } | null;
  convergence?: ConvergenceReport;
  preprocessing?: PreprocessingSummary;
}

export type RunEvent =
  | RunStartedEvent
  | StepEndEvent
  | BnStatsEvent
  | EpochEndEvent
  | LogEvent
  | CheckpointEvent
  | RunFinishedEvent;

export type RunListener = (event: RunEvent) => void;
