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

/**
 * Without --recipe: no flags at all means the demo recipe; --data without --backbone trains the
 * demo backbone on that folder, --backbone without --data uses the demo images (`note` says so,
 * naming the flag to pass).
 */
export function recipeFromFlags(flags: RecipeFlags, note: (message: string) => void = (m) => process.stderr.write(`bnlab: ${m}\n`)): Recipe {
  const file = flags.recipe ?? (flags.backbone || flags.data ? null : DEMO_RECIPE);
  const base: Record<string, unknown> = file ? readRecipeFile(file) : {};
  const input: Record<string, unknown> = { ...base };
  if (!file) {
    const demo = readRecipeFile(DEMO_RECIPE);
    if (!flags.backbone) {
      input.backbone = demo.backbone;
      note(`no --backbone given: using the demo backbone '${String(demo.backbone)}' (pass --backbone <name|path|url>, e.g. mobilenet_v1_0.25_224)`);
    }
    if (!flags.data) {
      input.data = demo.data;
      note(`no --data given: using the demo images ${String(demo.data)} (pass --data <folder>)`);
    }
  }
  if (flags.backbone) input.backbone = flags.backbone;
  if (flags.data) input.data = flags.data;
  if (flags.policy) input.policy = parsePolicyFlag(flags.policy);
  if (flags.epochs) input.epochs = number(flags.epochs, '--epochs');
  if (flags.batchSize) input.batchSize = number(flags.batchSize, '--batch-size');
  if (flags.seed) input.seed = number(flags.seed, '--seed');
  if (flags.maxSteps) input.maxStepsPerEpoch = number(flags.maxSteps, '--max-steps');
  if (flags.preciseBn) input.preciseBn = true;
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
