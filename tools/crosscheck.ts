/**
 * bnlab against an independent PyTorch implementation (tools/torch-crosscheck.py) of the same
 * recipe: same split (bnlab's file lists, written to JSON), same preprocessing conventions, same
 * seeds count; prints each policy's mean val accuracy with its 95 % interval over seeds side by
 * side, and Welch's 95 % interval of the difference.
 *
 *   npx tsx tools/crosscheck.ts [--recipe recipes/mobilenet-v1-ants-bees.json] [--data DIR]
 *       [--seeds 5] [--policies freeze-all,train-bn] [--bnlab docs/results-seeds.json]
 *       [--python /usr/bin/python3] [--split-out split.json] [--split-only] [--torch-json torch.json] [--json]
 *
 * `--bnlab` reuses the runs of a saved `bnlab compare --json` report instead of training again
 * (same recipe required: checked field by field); `--torch-json` reuses a saved stdout of
 * tools/torch-crosscheck.py (run on the `--split-out` file of `--split-only`) instead of running it. The seeds drive different random streams in
 * the two implementations, so only distributions over seeds are compared, never seed by seed.
 * Optional: `npm test` never runs this; without torch the script says so and exits 0.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, PROJECT_ROOT } from '../server/config.ts';
import { recipeFromFlags } from '../server/cli/recipe-args.ts';
import { scanImageFolder } from '../server/data/scan.ts';
import type { ComparisonReport, SeedSummary } from '../server/schema/comparison.ts';
import { summarizeSeeds } from '../server/stats/seed-summary.ts';
import { studentTQuantile } from '../server/stats/student-t.ts';
import { resolveDataPath } from '../server/train/experiment.ts';
import { terminalListener } from '../server/cli/progress.ts';

const args = new Map<string, string>();
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const flag = argv[i]!;
  if (!flag.startsWith('--')) throw new Error(`unexpected argument '${flag}'`);
  if (flag === '--json' || flag === '--split-only') args.set(flag.slice(2), 'true');
  else args.set(flag.slice(2), argv[++i] ?? '');
}
const config = loadConfig();
const policies = (args.get('policies') ?? 'freeze-all,train-bn').split(',');
const recipe = recipeFromFlags({ recipe: args.get('recipe') ?? path.join(PROJECT_ROOT, 'recipes', 'mobilenet-v1-ants-bees.json'), data: args.get('data'), seeds: args.get('seeds') });
if (recipe.resize !== 'crop') throw new Error(`the PyTorch side implements resize 'crop' only; recipe has '${recipe.resize}'`);
if (recipe.optimizer.type !== 'adam' || recipe.optimizer.schedule === 'step') throw new Error('the PyTorch side implements Adam with a constant or cosine schedule only');

if (recipe.backbone !== 'mobilenet_v1_0.25_224') throw new Error(`the PyTorch side builds MobileNet v1 α0.25 only; recipe has '${recipe.backbone}'`);
const modelDir = args.get('model-dir') ?? (config.modelsDir ? path.join(config.modelsDir, 'mobilenet_v1_0.25_224') : '');
if (!fs.existsSync(path.join(modelDir, 'model.json'))) throw new Error(`no model.json in '${modelDir}': set BNLAB_MODELS_DIR or pass --model-dir`);

// 1. the split, exactly as bnlab scans it
const split = await scanImageFolder(resolveDataPath(recipe.data), { valFraction: recipe.valFraction, seed: recipe.dataSeed ?? recipe.seed });
const splitFile = args.get('split-out') ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bnlab-crosscheck-')), 'split.json');
fs.writeFileSync(splitFile, JSON.stringify({ root: split.root, classes: split.classes, train: split.train, val: split.val }, null, 1));
if (args.get('split-only')) {
  console.log(`split (${split.train.length} train / ${split.val.length} val) written to ${splitFile}`);
  process.exit(0);
}

// 2. bnlab's numbers: a saved report, or fresh runs
let bnlab: Map<string, SeedSummary>;
if (args.get('bnlab')) {
  const report = JSON.parse(fs.readFileSync(args.get('bnlab')!, 'utf8')) as ComparisonReport;
  for (const field of ['epochs', 'batchSize', 'optimizer', 'augment', 'resize', 'seed'] as const) {
    if (JSON.stringify(report.recipe[field]) !== JSON.stringify(recipe[field])) throw new Error(`--bnlab report's recipe differs in ${field}: ${JSON.stringify(report.recipe[field])} vs ${JSON.stringify(recipe[field])}`);
  }
  bnlab = new Map(report.policies.map((p) => [p.policy, p.valAccuracy]));
} else {
  const { runComparison } = await import('../server/commands/compare.ts');
  const { comparisonReport } = await import('../server/stats/comparison-report.ts');
  const comparisonId = `crosscheck-${Date.now()}`;
  const summaries = await runComparison(recipe, policies, { comparisonId, config, onEvent: terminalListener() });
  bnlab = new Map(comparisonReport(comparisonId, recipe, policies, summaries, 0).policies.map((p) => [p.policy, p.valAccuracy]));
}

// 3. PyTorch on the same split
const seeds = Array.from({ length: recipe.seeds }, (_, k) => recipe.seed + k);
const python = args.get('python') ?? '/usr/bin/python3';
const torchArgs = [
  path.join(PROJECT_ROOT, 'tools', 'torch-crosscheck.py'),
  '--split', splitFile,
  '--model-dir', modelDir,
  '--policies', policies.join(','),
  '--seeds', seeds.join(','),
  '--epochs', String(recipe.epochs),
  '--lr', String(recipe.optimizer.lr),
  '--schedule', recipe.optimizer.schedule,
  '--batch-size', String(recipe.batchSize),
  '--scale', recipe.augment.scale.join(','),
  '--augment', recipe.augment.randomResizedCrop || recipe.augment.horizontalFlip ? 'on' : 'off',
];
const stdout = args.get('torch-json') ? fs.readFileSync(args.get('torch-json')!, 'utf8') : await runTorch();
const torch = JSON.parse(stdout.trim().split('\n').pop()!) as { status: string; message?: string; policies?: Record<string, { valAccuracy: number[] }> };
if (torch.status !== 'ok') {
  console.log(`PyTorch unavailable: ${torch.message}`);
  process.exit(0);
}

// 4. side by side
const pct = (x: number) => (x * 100).toFixed(1);
const ci = (s: SeedSummary) => (s.ci95 ? `[${pct(s.ci95[0])}, ${pct(s.ci95[1])}]` : '-');
const rows = policies.map((policy) => {
  const ours = bnlab.get(policy);
  if (!ours) throw new Error(`bnlab has no results for ${policy}`);
  const theirs = summarizeSeeds(torch.policies![policy]!.valAccuracy);
  const welch = welchInterval(ours, theirs);
  const overlap = ours.ci95 && theirs.ci95 ? ours.ci95[0] <= theirs.ci95[1] && theirs.ci95[0] <= ours.ci95[1] : null;
  return { policy, bnlab: ours, pytorch: theirs, difference: welch, intervalsOverlap: overlap, agree: welch ? welch.ci95[0] <= 0 && 0 <= welch.ci95[1] : null };
});
if (args.get('json')) {
  console.log(JSON.stringify({ recipe, splitFile, rows }, null, 2));
} else {
  console.log(`\n${recipe.name ?? recipe.backbone}: ${recipe.epochs} epochs, ${recipe.optimizer.type} lr ${recipe.optimizer.lr} ${recipe.optimizer.schedule}, batch ${recipe.batchSize}, ${seeds.length} seeds, ${split.train.length} train / ${split.val.length} val images (split: ${splitFile})`);
  console.log('| policy | bnlab val acc % [95 %] | PyTorch val acc % [95 %] | bnlab − PyTorch (Welch 95 %) | agree |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    const diff = r.difference ? `${pct(r.difference.mean)} [${pct(r.difference.ci95[0])}, ${pct(r.difference.ci95[1])}]` : '-';
    console.log(`| ${r.policy} | ${pct(r.bnlab.mean)} ${ci(r.bnlab)} | ${pct(r.pytorch.mean)} ${ci(r.pytorch)} | ${diff} | ${r.agree === null ? '-' : r.agree ? 'yes' : 'NO'} |`);
  }
  console.log(`per seed: ${rows.map((r) => `${r.policy} bnlab ${r.bnlab.values.map(pct).join(' ')}; PyTorch ${r.pytorch.values.map(pct).join(' ')}`).join(' | ')}`);
}

async function runTorch(): Promise<string> {
  process.stderr.write(`running ${python} ${torchArgs.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ')}\n`);
  const child = execFile(python, torchArgs, { maxBuffer: 16 * 1024 * 1024 });
  child.stderr?.pipe(process.stderr);
  return new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${python} tools/torch-crosscheck.py exited with ${code}`))));
  });
}

/** Welch's unequal-variance interval for the difference of two means over seeds. */
function welchInterval(a: SeedSummary, b: SeedSummary): { mean: number; ci95: [number, number]; df: number } | null {
  if (a.sd === null || b.sd === null) return null;
  const va = a.sd ** 2 / a.n;
  const vb = b.sd ** 2 / b.n;
  const se = Math.sqrt(va + vb);
  const mean = a.mean - b.mean;
  if (se === 0) return { mean, ci95: [mean, mean], df: Infinity };
  const df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1));
  const half = studentTQuantile(0.975, df) * se;
  return { mean, ci95: [mean - half, mean + half], df };
}

