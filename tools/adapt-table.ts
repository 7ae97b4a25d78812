/**
 * The test-time adaptation table (docs/adapt-results.md): train a head on clean training images,
 * then, for each corruption and severity, corrupt the val images (`corrupt`), and measure val
 * accuracy before adaptation and after each method (`adapt`: stats, stats with a prior, tent), each
 * adapted on the corrupted val images themselves without their labels (transductive, as in
 * Schneider et al. 2020 and TENT). TENT's batch order is random: it runs with `--tent-seeds` seeds
 * and the table gives mean ± sample sd and the range.
 *
 *   nice -n 10 npx tsx tools/adapt-table.ts --data ../shared/data/ants-bees \
 *     --corruptions gaussian-noise,blur,contrast,brightness,invert,jpeg --severities 3,5 --tent-seeds 3
 *
 * Prints a markdown table on stdout and writes every number (per method, seed and corruption) to
 * <work>/adapt-table.json. Progress goes to stderr.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../server/config.ts';
import { selectBackend } from '../server/engine/backend.ts';
import { parseRecipe, type RecipeInput } from '../server/schema/recipe.ts';
import { readRecipeFile } from '../server/cli/recipe-args.ts';
import { runTraining } from '../server/train/loop.ts';
import { loadCheckpoint } from '../server/train/checkpoint.ts';
import { corruptFolder } from '../server/commands/corrupt.ts';
import { evaluateDataset, labelledEvaluationSet } from '../server/commands/evaluate.ts';
import { adaptModel, targetDataset, type AdaptSettings } from '../server/commands/adapt.ts';
import { CORRUPTIONS } from '../server/data/corruptions.ts';
import { onePassSteps } from '../server/train/tent.ts';
import { PROJECT_ROOT } from '../server/config.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: path.join(process.env.BNLAB_SHARED_DATA ?? '../shared/data', 'ants-bees') },
    recipe: { type: 'string', default: path.join(PROJECT_ROOT, 'recipes', 'mobilenet-v1-ants-bees.json') },
    corruptions: { type: 'string', default: CORRUPTIONS.join(',') },
    severities: { type: 'string', default: '3,5' },
    'tent-seeds': { type: 'string', default: '3' },
    'tent-lr': { type: 'string', default: '0.001' },
    'tent-passes': { type: 'string', default: '1' },
    'long-lr': { type: 'string', default: '0.01' },
    'long-passes': { type: 'string', default: '0' },
    'long-seeds': { type: 'string' },
    prior: { type: 'string', default: '64' },
    'batch-size': { type: 'string', default: '32' },
    work: { type: 'string' },
    backend: { type: 'string' },
  },
});

const config = loadConfig();
const work = path.resolve(values.work ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-adapt-table-')));
const corruptions = values.corruptions!.split(',').filter(Boolean);
const severities = values.severities!.split(',').map(Number);
const tentSeeds = Number(values['tent-seeds']);
const tentLr = Number(values['tent-lr']);
const tentPasses = Number(values['tent-passes']);
const longLr = Number(values['long-lr']);
const longPasses = Number(values['long-passes']);
const longSeeds = Number(values['long-seeds'] ?? tentSeeds);
const prior = Number(values.prior);
const batchSize = Number(values['batch-size']);
const log = (message: string) => process.stderr.write(`${message}\n`);

interface Row {
  corruption: string;
  severity: number | null;
  images: number;
  source: number;
  stats: number;
  statsPrior: number;
  tent: number[];
  tentLong: number[];
  entropy: { source: number; stats: number; statsPrior: number; tent: number[] };
  seconds: Record<string, number>;
}

async function main() {
  const backend = await selectBackend(values.backend ?? config.backend);
  // 1. A freeze-all head on the clean training images (the recipe's settings otherwise).
  const recipe = parseRecipe({ ...(readRecipeFile(values.recipe!) as RecipeInput), data: path.resolve(values.data!), policy: 'freeze-all' }, `recipe ${values.recipe}`);
  const checkpoint = path.join(work, 'source');
  if (!fs.existsSync(path.join(checkpoint, 'model.json'))) {
    log(`training ${recipe.backbone} freeze-all on ${recipe.data} (${recipe.epochs} epochs) on ${backend}`);
    await runTraining(recipe, { runId: 'source', config, onEvent: () => {}, outDir: checkpoint });
  }
  const source = await loadCheckpoint(checkpoint);
  const meta = source.meta;
  source.model.dispose();

  const sets: { corruption: string; severity: number | null; folder: string }[] = [{ corruption: 'none (clean val)', severity: null, folder: path.resolve(values.data!) }];
  for (const corruption of corruptions) {
    for (const severity of severities) {
      const folder = path.join(work, `${corruption}-${severity}`);
      if (!fs.existsSync(path.join(folder, '.bnlab-corruption.json'))) {
        fs.rmSync(folder, { recursive: true, force: true });
        await corruptFolder({ data: values.data!, corruption, severity, out: folder, seed: 0, size: meta.inputSize });
      }
      sets.push({ corruption, severity, folder });
    }
  }

  const rows: Row[] = [];
  for (const set of sets) {
    const label = `${set.corruption}${set.severity ? ` ${set.severity}` : ''}`;
    const seconds: Record<string, number> = {};
    const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      const t0 = Date.now();
      const result = await fn();
      seconds[name] = (seconds[name] ?? 0) + (Date.now() - t0) / 1000;
      return result;
    };
    // Labelled view (for accuracy) and unlabelled view (for adaptation) of the same images: for the
    // clean {train,val} folder both are val/, for a corrupted copy the whole copy.
    const evalFolder = set.folder;
    const targetFolder = set.severity === null ? path.join(set.folder, 'val') : set.folder;
    const run = async (settings: AdaptSettings | null) => {
      const { model, optimizerState } = await loadCheckpoint(checkpoint);
      optimizerState?.forEach((t) => t.tensor.dispose());
      try {
        let entropy: number | null = null;
        if (settings) entropy = (await adaptModel(model, await targetDataset(targetFolder, meta), settings)).entropyAfter;
        const { dataset } = await labelledEvaluationSet(evalFolder, meta);
        const result = await evaluateDataset(model, dataset, meta.classes, batchSize);
        return { accuracy: result.accuracy, images: result.images, entropy: entropy ?? result.entropy };
      } finally {
        model.dispose();
      }
    };
    const base: Omit<AdaptSettings, 'method'> = { prior: null, steps: null, batchSize, lr: 1e-3, seed: 0, episodic: false };
    const before = await timed('source', () => run(null));
    const stats = await timed('stats', () => run({ ...base, method: 'stats' }));
    const statsPrior = await timed('statsPrior', () => run({ ...base, method: 'stats', prior }));
    const tent: { accuracy: number; entropy: number }[] = [];
    const onePass = onePassSteps(before.images, batchSize);
    for (let seed = 0; seed < tentSeeds; seed++) tent.push(await timed('tent', () => run({ ...base, method: 'tent', seed, lr: tentLr, steps: tentPasses * onePass })));
    const tentLong: number[] = [];
    for (let seed = 0; seed < (longPasses > 0 ? longSeeds : 0); seed++) {
      tentLong.push((await timed('tentLong', () => run({ ...base, method: 'tent', seed, lr: longLr, steps: longPasses * onePass }))).accuracy);
    }
    const row: Row = {
      corruption: set.corruption,
      severity: set.severity,
      images: before.images,
      source: before.accuracy,
      stats: stats.accuracy,
      statsPrior: statsPrior.accuracy,
      tent: tent.map((t) => t.accuracy),
      tentLong,
      entropy: { source: before.entropy, stats: stats.entropy, statsPrior: statsPrior.entropy, tent: tent.map((t) => t.entropy) },
      seconds,
    };
    rows.push(row);
    log(`${label}: source ${pct(row.source)} stats ${pct(row.stats)} stats+prior ${pct(row.statsPrior)} tent ${summary(row.tent)}${longPasses ? ` tent×${longPasses} ${summary(row.tentLong)}` : ''} (${Object.entries(seconds).map(([k, v]) => `${k} ${v.toFixed(0)}s`).join(', ')})`);
    fs.writeFileSync(path.join(work, 'adapt-table.json'), JSON.stringify({ recipe, backend, prior, batchSize, tentSeeds, tentLr, tentPasses, longLr, longPasses, longSeeds, rows }, null, 2));
    fs.writeFileSync(path.join(work, 'adapt-table.md'), `${table(rows)}\n`); // so far, in case the run is cut short
  }

  console.log(table(rows));
  log(`numbers in ${path.join(work, 'adapt-table.json')}`);
}

function table(rows: Row[]): string {
  const header = ['corruption', 'sev.', 'source', 'stats', `stats N=${prior}`, `tent lr ${tentLr}, ${tentPasses} pass${tentPasses > 1 ? 'es' : ''} (${tentSeeds} seed${tentSeeds > 1 ? 's' : ''})`];
  if (longPasses) header.push(`tent lr ${longLr}, ${longPasses} passes (${longSeeds} seed${longSeeds > 1 ? 's' : ''})`);
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) {
    const cells = [row.corruption, row.severity ?? '-', pct(row.source), pct(row.stats), pct(row.statsPrior), summary(row.tent)];
    if (longPasses) cells.push(summary(row.tentLong));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const corrupted = rows.filter((r) => r.severity !== null);
  if (corrupted.length > 1) {
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const mean = (pick: (row: Row) => number) => pct(avg(corrupted.map(pick)));
    const cells = [`mean of the ${corrupted.length} corrupted`, '', mean((r) => r.source), mean((r) => r.stats), mean((r) => r.statsPrior), mean((r) => avg(r.tent))];
    if (longPasses) cells.push(mean((r) => avg(r.tentLong)));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function pct(x: number): string {
  return (x * 100).toFixed(1);
}

/** mean ± sample sd [min–max] in percent; a single value as is. */
function summary(xs: number[]): string {
  if (xs.length === 0) return '-';
  if (xs.length === 1) return pct(xs[0]);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1));
  return `${pct(mean)} ± ${pct(sd)} [${pct(Math.min(...xs))}–${pct(Math.max(...xs))}]`;
}

main().catch((error: Error) => {
  process.stderr.write(`adapt-table: ${error.message}\n`);
  process.exit(1);
});
