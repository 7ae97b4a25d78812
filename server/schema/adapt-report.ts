/**
 * The dashboard's "adapt" job (POST /api/adapt): test-time BN adaptation of a finished run's
 * checkpoint, measured on corrupted copies of the run's val images, one cell per corruption ×
 * severity. Types only (the client imports this file); the work is commands/adapt-shifts.ts.
 */
import type { BnLayerDrift } from './events.ts';

/**
 * The corruption names the form offers. data/corruptions.ts holds the implementations; a
 * compile-time check in commands/adapt-shifts.ts keeps the two lists equal.
 */
export const ADAPT_CORRUPTION_NAMES = ['gaussian-noise', 'blur', 'contrast', 'brightness', 'invert', 'jpeg'] as const;
export type AdaptCorruptionName = (typeof ADAPT_CORRUPTION_NAMES)[number];

/** Bounds of one job: cells = corruptions × severities. */
export const ADAPT_LIMITS = { corruptions: 6, severities: 5 } as const;

/** What the job was asked to do (the POST body, validated; `checkpoint` is a finished run's id). */
export interface AdaptRequest {
  checkpoint: string;
  method: 'stats' | 'tent';
  /** Schneider et al.'s pseudo sample size N of the source statistics; null = target only */
  prior: number | null;
  /** tent: Adam steps on gamma/beta (null = one pass over the target images) */
  steps: number | null;
  /** images per batch (tent steps and statistics passes); tent refuses 1 */
  batchSize: number;
  corruptions: AdaptCorruptionName[];
  severities: number[];
}

/** Where the job is: cell `cell` of `cells` (1-based once started), in `stage`. */
export interface AdaptProgress {
  cell: number;
  cells: number;
  corruption: string;
  severity: number;
  stage: 'corrupt' | 'evaluate-source' | 'adapt' | 'evaluate-adapted';
}

/** One corruption at one severity. Accuracy/entropy: inference mode, on the corrupted val copy. */
export interface AdaptCell {
  corruption: AdaptCorruptionName;
  severity: number;
  /** the corruption's parameter at this severity and its name (e.g. 0.18 'sigma') */
  parameter: number;
  parameterName: string;
  images: number;
  before: { accuracy: number; loss: number; entropy: number };
  after: { accuracy: number; loss: number; entropy: number };
  /** N/(N+n): weight the source statistics kept (0 without a prior) */
  sourceWeight: number;
  tentSteps: number;
  /** per BN layer (network order), the change adaptation made: source BN state is the reference */
  drift: BnLayerDrift[];
  seconds: number;
}

export interface AdaptReport {
  /** the source run and its checkpoint folder */
  runId: string;
  checkpointDir: string;
  /** the run's data folder whose val split was corrupted */
  data: string;
  backbone: string;
  classes: string[];
  request: AdaptRequest;
  backend: string;
  cells: AdaptCell[];
}
