/**
 * Rebuild a `bnlab compare --json` report from a comparison's run folders (the manifest in
 * <checkpoints>/.dashboard/comparisons/<id>.json and each run's metrics.jsonl), e.g. for a
 * comparison that was interrupted or is still running. Runs go seed-major, so the seeds whose
 * runs all finished are a prefix; the report covers exactly those (and says so on stderr).
 * Note: report.recipe.seed/seeds then describe the reported seeds only when they are contiguous;
 * report.seeds lists them.
 * Several comparisons of the same recipe and split over different seeds (e.g. `--seed 0 --seeds 3`
 * and `--seed 3 --seeds 2 --data-seed 0`, run side by side) merge into one report: list their ids
 * comma-separated; the recipes must agree in everything but seed and seeds.
 *   npx tsx tools/comparison-from-runs.ts --checkpoints checkpoints --comparison compare-<time>[,compare-<time>] > report.json
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RunEvent, RunSummary } from '../server/schema/events.ts';
import type { Recipe } from '../server/schema/recipe.ts';
import { comparisonReport } from '../server/stats/comparison-report.ts';
import { comparisonRunOrder } from '../server/runs/run-ids.ts';


const flag = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const checkpoints = flag('checkpoints') ?? 'checkpoints';
const id = flag('comparison');
if (!id) throw new Error('usage: npx tsx tools/comparison-from-runs.ts --checkpoints DIR --comparison ID');
type Manifest = { comparisonId: string; recipe: Recipe; policySpecs: Recipe['policy'][]; policies: string[]; createdAt: string };
const manifests = id.split(',').map((one) => JSON.parse(fs.readFileSync(path.join(checkpoints, '.dashboard', 'comparisons', `${one}.json`), 'utf8')) as Manifest);
const canonical = (value: unknown): unknown =>
  value && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, canonical(v)])) : value;
const sameRecipe = (r: Recipe) => JSON.stringify(canonical({ ...r, seed: 0, seeds: 0, dataSeed: r.dataSeed ?? r.seed }));
for (const m of manifests.slice(1)) {
  if (sameRecipe(m.recipe) !== sameRecipe(manifests[0]!.recipe)) throw new Error(`comparison ${m.comparisonId} has a different recipe (or split) from ${manifests[0]!.comparisonId}`);
  if (JSON.stringify(m.policies) !== JSON.stringify(manifests[0]!.policies)) throw new Error(`comparison ${m.comparisonId} has other policies`);
}
const manifest = manifests[0]!;

const finished = new Map<number, Map<string, { summary: RunSummary; mtimeMs: number }>>();
let finishedCount = 0;
for (const m of manifests) {
  for (const run of comparisonRunOrder(m.comparisonId, m.recipe, m.policySpecs)) {
    const file = path.join(checkpoints, run.runId, 'metrics.jsonl');
    if (!fs.existsSync(file)) continue;
    const end = fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as RunEvent)
      .find((e): e is Extract<RunEvent, { type: 'runFinished' }> => e.type === 'runFinished');
    if (end?.status !== 'completed' || !end.summary) continue;
    if (!finished.has(run.seed)) finished.set(run.seed, new Map());
    finished.get(run.seed)!.set(run.policy, { summary: end.summary, mtimeMs: fs.statSync(file).mtimeMs });
    finishedCount++;
  }
}
const firstSeed = Math.min(...manifests.map((m) => m.recipe.seed));
const planned = Math.max(...manifests.map((m) => m.recipe.seed + m.recipe.seeds)) - firstSeed;
// every seed with a finished run of every policy (a prefix of each comparison, which runs seed-major)
const seeds = Array.from({ length: planned }, (_, k) => firstSeed + k).filter((seed) => manifest.policies.every((p) => finished.get(seed)?.has(p)));
if (seeds.length === 0) throw new Error(`comparison ${id}: no seed has finished runs of every policy yet`);
const recipe = { ...manifest.recipe, seed: seeds[0]!, seeds: seeds.length, dataSeed: manifest.recipe.dataSeed ?? manifest.recipe.seed };
const runs = seeds.flatMap((seed) => manifest.policies.map((p) => finished.get(seed)!.get(p)!));
const lastEnd = Math.max(...runs.map((r) => r.mtimeMs));
const wall = (lastEnd - Math.min(...manifests.map((m) => Date.parse(m.createdAt)))) / 1000;
process.stderr.write(`comparison ${id}: seeds ${seeds.join(', ')} complete of ${planned} planned (${finishedCount} runs finished in all)\n`);
// run ids inside the summaries keep their "-seed<k>" suffix from the full comparison
const report = comparisonReport(id, recipe, manifest.policies, runs.map((r) => r.summary), wall, seeds);
console.log(JSON.stringify({ ...report, seedsPlanned: planned, mergedFrom: manifests.map((m) => m.comparisonId) }, null, 2));
