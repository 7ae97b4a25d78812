/** Build a validated recipe from an optional recipe file and command-line flags (flags win). */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../config.ts';
import { parseRecipe, type Recipe, type RecipeInput } from '../schema.ts';

export interface RecipeFlags {
  recipe?: string;
  backbone?: string;
  data?: string;
  policy?: string;
  epochs?: string;
  batchSize?: string;
  lr?: string;
  optimizer?: string;
  seed?: string;
  preciseBn?: boolean;
  momentumKeras?: string;
  momentumPytorch?: string;
  maxSteps?: string;
  seeds?: string;
  dataSeed?: string;
  resize?: string;
  allowTinyBatch?: boolean;
}

export const DEMO_RECIPE = path.join(PROJECT_ROOT, 'recipes', 'demo.json');

export function readRecipeFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read recipe ${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`recipe ${file} is not valid JSON: ${(error as Error).message}`);
  }
}

export function recipeFromFlags(flags: RecipeFlags): Recipe {
  const file = flags.recipe ?? (flags.backbone || flags.data ? null : DEMO_RECIPE);
  const base: Record<string, unknown> = file ? readRecipeFile(file) : {};
  const input: Record<string, unknown> = { ...base };
  if (flags.backbone) input.backbone = flags.backbone;
  if (flags.data) input.data = flags.data;
  if (flags.policy) input.policy = parsePolicyFlag(flags.policy);
  if (flags.epochs) input.epochs = number(flags.epochs, '--epochs');
  if (flags.batchSize) input.batchSize = number(flags.batchSize, '--batch-size');
  if (flags.seed) input.seed = number(flags.seed, '--seed');
  if (flags.maxSteps) input.maxStepsPerEpoch = number(flags.maxSteps, '--max-steps');
  if (flags.preciseBn) input.preciseBn = true;
  if (flags.seeds) input.seeds = number(flags.seeds, '--seeds');
  if (flags.dataSeed) input.dataSeed = number(flags.dataSeed, '--data-seed');
  if (flags.resize) input.resize = flags.resize;
  if (flags.allowTinyBatch) input.allowTinyBatch = true;
  if (flags.lr || flags.optimizer) {
    const optimizer = { ...((base.optimizer as object) ?? {}) } as Record<string, unknown>;
    if (flags.lr) optimizer.lr = number(flags.lr, '--lr');
    if (flags.optimizer) optimizer.type = flags.optimizer;
    input.optimizer = optimizer;
  }
  if (flags.momentumKeras) input.bnMomentum = { keras: number(flags.momentumKeras, '--bn-momentum-keras') };
  if (flags.momentumPytorch) input.bnMomentum = { pytorch: number(flags.momentumPytorch, '--bn-momentum-pytorch') };
  return parseRecipe(input as RecipeInput, file ? `recipe ${file} (with command-line overrides)` : 'recipe from command-line flags');
}

/** `--policy` takes a name, or a path to a JSON file holding a custom { base, rules } policy. */
export function parsePolicyFlag(value: string): unknown {
  if (value.endsWith('.json')) return readRecipeFile(value);
  return value;
}

function number(value: string, flag: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new Error(`${flag} expects a number, got '${value}'`);
  return parsed;
}
