/**
 * Recipe flags: one table, each flag typed against the recipe field it overrides (`RecipePath`
 * only admits real fields), registered on every recipe command and applied by the same entry.
 * Numbers are parsed when commander reads the flag, so `--bn-momentum-keras banana` is refused
 * naming the flag before anything runs.
 */
import fs from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DEMO_RECIPE_FILE } from '../config.ts';
import { POLICY_USAGE } from '../schema/policy-names.ts';
import { PREPROCESSING_HELP, PreprocessingSchema, type Preprocessing } from '../schema/preprocessing.ts';
import { parseRecipe, type Recipe, type RecipeInput } from '../schema/recipe.ts';

type Defined<T> = Exclude<T, undefined>;
/** 'epochs', 'optimizer.lr', 'bnMomentum.keras', …: the recipe's fields, one level into objects. */
export type RecipePath = {
  [K in keyof RecipeInput & string]: Defined<RecipeInput[K]> extends infer V
    ? V extends readonly unknown[] ? K
    : V extends object ? K | { [J in keyof (V extends unknown ? V : never) & string]: `${K}.${J}` }[keyof (V extends unknown ? V : never) & string]
    : K
    : never;
}[keyof RecipeInput & string];

type FlagValue = 'string' | 'number' | 'policy' | 'preprocessing' | 'switch';

interface RecipeFlag {
  flags: string;
  field: RecipePath;
  value: FlagValue;
  help: string;
  choices?: readonly string[];
  /** flags that set the same field another way */
  conflicts?: string;
  /** registered only on these commands (default: every recipe command) */
  only?: readonly string[];
}

export const RECIPE_FLAGS: readonly RecipeFlag[] = [
  { flags: '--backbone <name|path|url>', field: 'backbone', value: 'string', help: 'registry name, model.json path or folder, or URL' },
  { flags: '--data <folder>', field: 'data', value: 'string', help: 'image folder: root/<class>/* or root/{train,val}/<class>/*' },
  { flags: '--policy <name>', field: 'policy', value: 'policy', help: `${POLICY_USAGE.replace(', or { "rules": [...] }', '')}, or rules.json` },
  { flags: '--epochs <n>', field: 'epochs', value: 'number', help: 'passes over the training images' },
  { flags: '--batch-size <n>', field: 'batchSize', value: 'number', help: 'images per step' },
  { flags: '--lr <rate>', field: 'optimizer.lr', value: 'number', help: 'learning rate' },
  { flags: '--optimizer <type>', field: 'optimizer.type', value: 'string', help: 'optimizer', choices: ['adam', 'sgd'] },
  { flags: '--seed <n>', field: 'seed', value: 'number', help: 'seed of the split, the head initialisation and the batch order' },
  { flags: '--max-steps <n>', field: 'maxStepsPerEpoch', value: 'number', help: 'cap on steps per epoch (quick checks)' },
  { flags: '--precise-bn', field: 'preciseBn', value: 'switch', help: 'recompute BN population statistics after training' },
  { flags: '--seeds <n>', field: 'seeds', value: 'number', help: 'run seeds per policy: seed, seed + 1, … (5 or more before drawing conclusions)', only: ['compare'] },
  { flags: '--data-seed <n>', field: 'dataSeed', value: 'number', help: 'seed of the train/val split (default: --seed)' },
  {
    flags: '--resize <mode>', field: 'resize', value: 'string', choices: ['crop', 'squash', 'pad'],
    help: 'fit images to the input: crop (shorter side x 1.15, center crop), squash (whole image), pad (letterbox)',
  },
  { flags: '--allow-tiny-batch', field: 'allowTinyBatch', value: 'switch', help: 'allow batch size 1 with training-mode BN (per-image statistics)' },
  {
    flags: '--bn-momentum-keras <m>', field: 'bnMomentum.keras', value: 'number', conflicts: 'bnMomentumPytorch',
    help: 'override BN momentum, Keras convention (weight of the old value, e.g. 0.99)',
  },
  { flags: '--preprocessing <mode>', field: 'preprocessing', value: 'preprocessing', help: `pixel scaling the backbone expects: ${PREPROCESSING_HELP}` },
  { flags: '--cut <layer>', field: 'cutLayer', value: 'string', help: 'layer whose output feeds the new head (see: bnlab layers --backbone <b>)' },
  {
    flags: '--bn-momentum-pytorch <m>', field: 'bnMomentum.pytorch', value: 'number', conflicts: 'bnMomentumKeras',
    help: 'override BN momentum, PyTorch convention (weight of the new value, e.g. 0.1)',
  },
];

function optionOf(flag: RecipeFlag): Option {
  const option = new Option(flag.flags, flag.help);
  if (flag.choices) option.choices(flag.choices);
  if (flag.conflicts) option.conflicts(flag.conflicts);
  if (flag.value === 'number') option.argParser((raw: string) => parseNumber(raw));
  if (flag.value === 'policy') option.argParser(parsePolicyFlag);
  if (flag.value === 'preprocessing') option.argParser(parsePreprocessingFlag);
  return option;
}

/** Register `--recipe` and every recipe flag on a command. */
export function addRecipeOptions(command: Command): Command {
  command.option('--recipe <file>', 'recipe JSON (flags override its fields); default recipes/demo.json');
  for (const flag of RECIPE_FLAGS) if (!flag.only || flag.only.includes(command.name())) command.addOption(optionOf(flag));
  return command;
}

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

/** Commander's parsed options of a recipe command (keys are the flags' attribute names). */
export type RecipeFlags = { recipe?: string } & Record<string, unknown>;

/**
 * A validated recipe: the recipe file, then each flag given (flags win). Without --recipe: no
 * flags at all means the demo recipe; --data without --backbone trains the demo backbone on that
 * folder, --backbone without --data uses the demo images (`note` says so, naming the flag to pass).
 */
export function recipeFromFlags(
  flags: RecipeFlags,
  { command, note = (m) => process.stderr.write(`bnlab: ${m}\n`) }: { command?: string; note?: (message: string) => void } = {},
): Recipe {
  const file = flags.recipe ?? (flags.backbone || flags.data ? null : DEMO_RECIPE_FILE);
  const input: Record<string, unknown> = file ? readRecipeFile(file) : {};
  if (!file) {
    const demo = readRecipeFile(DEMO_RECIPE_FILE);
    if (!flags.backbone) {
      input.backbone = demo.backbone;
      note(`no --backbone given: using the demo backbone '${String(demo.backbone)}' (pass --backbone <name|path|url>, e.g. mobilenet_v1_0.25_224)`);
    }
    if (!flags.data) {
      input.data = demo.data;
      note(`no --data given: using the demo images ${String(demo.data)} (pass --data <folder>)`);
    }
  }
  for (const flag of RECIPE_FLAGS) {
    if (flag.only && !(command && flag.only.includes(command))) continue; // another command's option of that name (sweep's --seeds list)
    const value = flags[optionOf(flag).attributeName()];
    if (value === undefined) continue;
    const [head, tail] = flag.field.split('.') as [string, string | undefined];
    if (!tail) {
      input[head] = value;
    } else if (head === 'bnMomentum') {
      input[head] = { [tail]: value }; // one convention or the other, never both
    } else {
      input[head] = { ...((input[head] as object | undefined) ?? {}), [tail]: value };
    }
  }
  return parseRecipe(input as RecipeInput, file ? `recipe ${file} (with command-line overrides)` : 'recipe from command-line flags');
}

/** `--preprocessing` takes a named mode, 'mean=R,G,B;std=R,G,B' or JSON { "mean": [...], "std": [...] }. */
export function parsePreprocessingFlag(value: string): Preprocessing {
  let input: unknown = value;
  if (value.trim().startsWith('{')) {
    try {
      input = JSON.parse(value);
    } catch {
      // not JSON: reported below as not a preprocessing
    }
  }
  const parsed = PreprocessingSchema.safeParse(input);
  if (!parsed.success) throw new InvalidArgumentError(`'${value}' is not a preprocessing; use ${PREPROCESSING_HELP}.`);
  return parsed.data;
}

/** `--policy` takes a name, or a path to a JSON file holding a custom { base, rules } policy. */
export function parsePolicyFlag(value: string): unknown {
  if (value.endsWith('.json')) return readRecipeFile(value);
  return value;
}

function parseNumber(raw: string): number {
  const parsed = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError(`expected a number, got '${raw}'.`);
  return parsed;
}
