/**
 * Recipes: what a run is, validated with zod so that a broken recipe names its field. Shared by
 * the engine, the CLI, the server and the dashboard; no Node and no tfjs here (the client imports it).
 */
import { z } from 'zod';
import { NAMED_POLICY_PATTERN, POLICY_USAGE } from './policy-names.ts';
import { PreprocessingSchema } from './preprocessing.ts';

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

/** A named policy ('freeze-all', 'unfreeze-last:3', ...) or a custom rule list. */
export const PolicySpecSchema = z.union([
  z.string().regex(NAMED_POLICY_PATTERN, { message: `unknown policy; use one of ${POLICY_USAGE}` }),
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
  preprocessing: PreprocessingSchema.optional().describe("pixel scaling; overrides the backbone's registry entry, backbone.json or Teachable Machine metadata.json"),
  cutLayer: z.string().min(1).optional().describe("layer whose output feeds the new head; default: the cut rule (backbones/cut-layer.ts)"),
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

/**
 * How an image folder is laid out: 'class-folders' = root/<class>/* (bnlab makes a seeded,
 * stratified split); 'train-val' = root/train/<class>/* and root/val/<class>/*.
 */
export type DatasetLayout = 'class-folders' | 'train-val';

