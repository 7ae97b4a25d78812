/**
 * The one schema shared by the engine, the CLI, the server and the dashboard: recipes (validated
 * with zod so that a broken recipe names its field), run events (typed data, no behaviour) and
 * checkpoint metadata. The client imports the types from here, so a renamed field breaks the build.
 */
import { z } from 'zod';

/** BN momentum in either convention, always stated explicitly. */
export const BnMomentumSchema = z.union([
  z.strictObject({ keras: z.number().gt(0).lt(1).describe('weight of the OLD running value (Keras/tfjs), e.g. 0.99') }),
  z.strictObject({ pytorch: z.number().gt(0).lt(1).describe('weight of the NEW batch value (PyTorch), e.g. 0.1') }),
]);
export type BnMomentum = z.infer<typeof BnMomentumSchema>;

/** How one BN layer behaves during a training step. */
export const BnModeSchema = z.enum(['train', 'inference']);
export type BnMode = z.infer<typeof BnModeSchema>;

/** One rule of a custom policy; later rules override earlier ones for the layers they match. */
export const PolicyRuleSchema = z.strictObject({
  match: z.string().min(1).describe('regular expression tested against the layer name'),
  trainable: z.boolean().optional().describe('conv/dense/depthwise weights of matched layers train'),
  bnMode: BnModeSchema.optional().describe("'train': batch statistics + EMA update; 'inference': running statistics"),
  bnAffine: z.boolean().optional().describe('gamma/beta of matched BN layers train'),
});
export type PolicyRule = z.infer<typeof PolicyRuleSchema>;

export const POLICY_NAMES = ['freeze-all', 'train-bn', 'bn-stats-only', 'adabn', 'full'] as const;

/** A named policy ('freeze-all', 'unfreeze-last:3', ...) or a custom rule list. */
export const PolicySpecSchema = z.union([
  z.string().regex(/^(freeze-all|train-bn|bn-stats-only|adabn|full|unfreeze-last:[1-9][0-9]*)$/, {
    message: `unknown policy; use one of ${POLICY_NAMES.join(', ')}, unfreeze-last:<n>, or { "rules": [...] }`,
  }),
  z.strictObject({
    base: z.string().optional().describe('named policy applied before the rules (default freeze-all)'),
    rules: z.array(PolicyRuleSchema).min(1),
  }),
]);
export type PolicySpec = z.infer<typeof PolicySpecSchema>;

export const OptimizerSchema = z.strictObject({
  type: z.enum(['sgd', 'adam']).default('adam'),
  lr: z.number().positive().default(1e-3),
  momentum: z.number().min(0).lt(1).default(0.9).describe('SGD momentum (ignored by adam)'),
  schedule: z.enum(['constant', 'cosine', 'step']).default('constant'),
  stepEvery: z.number().int().positive().default(1).describe("epochs between x0.1 decays for 'step'"),
});
export type OptimizerConfig = z.infer<typeof OptimizerSchema>;

export const AugmentSchema = z.strictObject({
  randomResizedCrop: z.boolean().default(true),
  scale: z.tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)]).default([0.35, 1]),
  horizontalFlip: z.boolean().default(true),
});
export type AugmentConfig = z.infer<typeof AugmentSchema>;

export const HeadSchema = z.strictObject({
  hidden: z.array(z.number().int().positive()).default([]),
  dropout: z.number().min(0).lt(1).default(0),
});
export type HeadConfig = z.infer<typeof HeadSchema>;

/**
 * How a decoded image becomes the square network input (issue 10).
 * 'crop': resize the shorter side to 1.15 x input, take the center square (torchvision eval style);
 * 'squash': the whole image resized to input x input, aspect not kept (Keras
 *   image_dataset_from_directory, Teachable Machine); an image already at input size is used as is;
 * 'pad': letterbox: the whole image fitted inside input x input, aspect kept, black borders.
 */
export const ResizeModeSchema = z.enum(['crop', 'squash', 'pad']);
export type ResizeMode = z.infer<typeof ResizeModeSchema>;

/** Stop when val loss has not improved by more than minDelta for `patience` epochs (Keras EarlyStopping, restore_best_weights=false). */
export const EarlyStoppingSchema = z.strictObject({
  patience: z.number().int().positive().default(3).describe('epochs without val-loss improvement before stopping'),
  minDelta: z.number().min(0).default(0).describe('smallest val-loss decrease that counts as improvement'),
});
export type EarlyStoppingConfig = z.infer<typeof EarlyStoppingSchema>;

/** Multiply the learning rate by `factor` after `patience` epochs without val-loss improvement (Keras ReduceLROnPlateau, cooldown 0). */
export const ReduceOnPlateauSchema = z.strictObject({
  patience: z.number().int().positive().default(2),
  factor: z.number().gt(0).lt(1).default(0.5),
  minDelta: z.number().min(0).default(0),
  minLr: z.number().min(0).default(0).describe('the rate is never reduced below this'),
});
export type ReduceOnPlateauConfig = z.infer<typeof ReduceOnPlateauSchema>;

export const RecipeSchema = z.strictObject({
  name: z.string().min(1).optional(),
  backbone: z.string().min(1).describe('registry name, path to model.json or its folder, or URL'),
  data: z.string().min(1).describe('image folder: root/<class>/* or root/{train,val}/<class>/*'),
  policy: PolicySpecSchema.default('train-bn'),
  preciseBn: z.boolean().default(false).describe('recompute BN population statistics after training'),
  bnMomentum: BnMomentumSchema.optional().describe('override every BN layer momentum'),
  head: HeadSchema.default({ hidden: [], dropout: 0 }),
  optimizer: OptimizerSchema.default({ type: 'adam', lr: 1e-3, momentum: 0.9, schedule: 'constant', stepEvery: 1 }),
  epochs: z.number().int().positive().default(3),
  batchSize: z.number().int().positive().default(16),
  augment: AugmentSchema.default({ randomResizedCrop: true, scale: [0.35, 1], horizontalFlip: true }),
  seed: z.number().int().nonnegative().default(0).describe('run seed: head initialisation, batch order, augmentation (and the split unless dataSeed is set)'),
  dataSeed: z.number().int().nonnegative().optional().describe('seed of the train/val split; default: seed'),
  seeds: z.number().int().positive().max(100).default(1).describe('compare: run seeds per policy (seed, seed + 1, ...), all on the split of dataSeed'),
  resize: ResizeModeSchema.default('crop').describe("'crop' (shorter side x 1.15, center crop), 'squash' (whole image to input size) or 'pad' (letterbox)"),
  earlyStopping: EarlyStoppingSchema.optional().describe('opt-in: stop on a val-loss plateau'),
  reduceOnPlateau: ReduceOnPlateauSchema.optional().describe('opt-in: lower the learning rate on a val-loss plateau'),
  allowTinyBatch: z.boolean().default(false).describe('allow batch size 1 with training-mode BN (per-image statistics)'),
  valFraction: z.number().gt(0).lt(1).default(0.2).describe('for root/<class>/* layouts only'),
  imageSize: z.number().int().positive().optional().describe('defaults to the backbone input size'),
  logEvery: z.number().int().positive().default(5).describe('steps between BN drift snapshots'),
  maxStepsPerEpoch: z.number().int().positive().optional(),
});
export type Recipe = z.infer<typeof RecipeSchema>;
export type RecipeInput = z.input<typeof RecipeSchema>;

/** Validate a recipe; the error message names every bad field by its path. */
export function parseRecipe(input: unknown, origin = 'recipe'): Recipe {
  const result = RecipeSchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.join('.') : '(top level)';
    return `  ${field}: ${issue.message}`;
  });
  throw new RecipeError(`${origin} is invalid:\n${lines.join('\n')}`, result.error.issues.map((i) => i.path.join('.')));
}

export class RecipeError extends Error {
  constructor(message: string, readonly fields: string[]) {
    super(message);
    this.name = 'RecipeError';
  }
}

// ---------------------------------------------------------------------------------------------
// Run events: the training loop emits these; the CLI, the metrics file and the socket listen.

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
  backbone: { name: string; inputSize: number; bnLayers: string[] };
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

// ---------------------------------------------------------------------------------------------
// Comparisons over seeds (issue 10): what `bnlab compare --json` prints and the dashboard shows.

/** A metric over run seeds (server/stats/seed-summary.ts). */
export interface SeedSummary {
  /** number of seeds */
  n: number;
  mean: number;
  /** sample standard deviation (divides by n - 1); null for n = 1 */
  sd: number | null;
  /** 95 % Student-t interval of the mean over seeds; null for n = 1 */
  ci95: [number, number] | null;
  /** the per-seed values in seed order */
  values: number[];
}

export type Verdict = 'a-better' | 'b-better' | 'not-distinguishable';

/** Paired test of two policies on the same val images over the same seeds (server/stats/paired-verdict.ts). */
export interface PairedVerdict {
  a: string;
  b: string;
  seeds: number;
  /** val images scored in every run of both policies */
  images: number;
  /** accuracy of A minus accuracy of B, averaged over seeds (fraction, not %) */
  difference: number;
  ci95: [number, number];
  standardError: number;
  df: number;
  t: number;
  pValue: number;
  /** false with one seed: the error then covers image sampling only */
  seedVarianceIncluded: boolean;
  verdict: Verdict;
  /** e.g. "freeze-all better at 95 %" or "not distinguishable at 95 %" */
  text: string;
}

/** One policy of a comparison, over its seeds. */
export interface PolicySeedStats {
  policy: string;
  seeds: number[];
  runIds: string[];
  valAccuracy: SeedSummary;
  valLoss: SeedSummary;
  /** null when the policy has no training-mode BN layer */
  valTrainModeAccuracy: SeedSummary | null;
  seconds: SeedSummary;
  totalMeanShift: SeedSummary;
  /** runs flagged "not converged" (server/train/convergence.ts) */
  notConverged: number;
}

export interface ComparisonReport {
  format: 'bnlab-comparison@2';
  comparisonId: string;
  /** the recipe every run shared, apart from policy and seed */
  recipe: Recipe;
  seeds: number[];
  dataSeed: number;
  valImages: number;
  policies: PolicySeedStats[];
  /** every pair of policies, in policy order */
  verdicts: PairedVerdict[];
  runs: RunSummary[];
  wallSeconds: number;
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

/** Written beside the weights in every checkpoint folder (checkpoint.json). */
export interface CheckpointMeta {
  format: 'bnlab-checkpoint@1';
  runId: string;
  recipe: Recipe;
  classes: string[];
  preprocessing: Preprocessing;
  inputSize: number;
  epoch: number;
  step: number;
  completed: boolean;
  backend: string;
  time: string;
}

/** Pixel scaling a backbone expects: [-1, 1] (x / 127.5 - 1) or [0, 1] (x / 255). */
export type Preprocessing = 'minus1to1' | 'zero1';
