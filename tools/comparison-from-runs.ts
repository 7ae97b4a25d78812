/**
 * Rebuild a `bnlab compare --json` report from a comparison's run folders (the manifest in
 * <checkpoints>/.dashboard/comparisons/<id>.json and each run's metrics.jsonl), e.g. for a
 * comparison that was interrupted or is still running. Runs go seed-major, so the seeds whose
 * runs all finished are a prefix; the report covers exactly those (and says so on stderr).
 *   npx tsx tools/comparison-from-runs.ts --checkpoints checkpoints --comparison compare-<time> > report.json
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Recipe, RunEvent, RunSummary } from '../server/schema.ts';
import { comparisonReport } from '../server/train/compare.ts';
import { comparisonRunOrder } from '../server/train/run-ids.ts';

const flag = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const checkpoints = flag('checkpoints') ?? 'checkpoints';
const id = flag('comparison');
if (!id) throw new Error('usage: npx tsx tools/comparison-from-runs.ts --checkpoints DIR --comparison ID');
const manifest = JSON.parse(fs.readFileSync(path.join(checkpoints, '.dashboard', 'comparisons', `${id}.json`), 'utf8')) as {
  recipe: Recipe;
  policySpecs: Recipe['policy'][];
  policies: string[];
  createdAt: string;
};

const finished = new Map<string, { summary: RunSummary; mtimeMs: number }>();
for (const run of comparisonRunOrder(id, manifest.recipe, manifest.policySpecs)) {
  const file = path.join(checkpoints, run.runId, 'metrics.jsonl');
  if (!fs.existsSync(file)) continue;
  const end = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as RunEvent)
    .find((e): e is Extract<RunEvent, { type: 'runFinished' }> => e.type === 'runFinished');
  if (end?.status === 'completed' && end.summary) finished.set(run.runId, { summary: end.summary, mtimeMs: fs.statSync(file).mtimeMs });
}
const order = comparisonRunOrder(id, manifest.recipe, manifest.policySpecs);
let complete = 0;
for (let k = 0; k < manifest.recipe.seeds; k++) {
  const seed = manifest.recipe.seed + k;
  if (order.filter((r) => r.seed === seed).every((r) => finished.has(r.runId))) complete++;
  else break;
}
if (complete === 0) throw new Error(`comparison ${id}: no seed has finished runs of every policy yet`);
const recipe = { ...manifest.recipe, seeds: complete };
const runs = order.filter((r) => r.seed < manifest.recipe.seed + complete).map((r) => finished.get(r.runId)!);
const lastEnd = Math.max(...runs.map((r) => r.mtimeMs));
const wall = (lastEnd - Date.parse(manifest.createdAt)) / 1000;
process.stderr.write(`comparison ${id}: ${complete} of ${manifest.recipe.seeds} seeds complete (${finished.size} runs finished in all)\n`);
// run ids inside the summaries keep their "-seed<k>" suffix from the full comparison
const report = comparisonReport(id, recipe, manifest.policies, runs.map((r) => r.summary), wall);
console.log(JSON.stringify({ ...report, seedsPlanned: manifest.recipe.seeds }, null, 2));
