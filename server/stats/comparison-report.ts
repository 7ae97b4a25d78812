/**
 * A comparison's report from its run summaries (pure; the CLI, the dashboard worker and the queue
 * use it): per policy the mean over seeds with its 95 % interval, every pairwise paired verdict,
 * and the table `bnlab compare` prints.
 */
import type { ComparisonReport, PolicySeedStats } from '../schema/comparison.ts';
import type { RunSummary } from '../schema/events.ts';
import type { Recipe } from '../schema/recipe.ts';
import { comparisonSeeds } from '../runs/run-ids.ts';
import { pairedVerdict, parseCorrectness } from './paired-verdict.ts';
import { summarizeSeeds } from './seed-summary.ts';

/** Group the summaries by policy, summarise over seeds, and test every pair of policies. */
export function comparisonReport(comparisonId: string, recipe: Recipe, policyNames: string[], summaries: RunSummary[], wallSeconds: number, seedList?: number[]): ComparisonReport {
  // seedList: the seeds to report when they are not recipe.seed .. recipe.seed + seeds - 1 (merged or partial comparisons)
  const seeds = seedList ?? comparisonSeeds(recipe);
  const bySeed = (policy: string) =>
    seeds.map((seed) => {
      const run = summaries.find((s) => s.policy === policy && (s.seed ?? recipe.seed) === seed);
      if (!run) throw new Error(`comparison ${comparisonId} has no run of ${policy} with seed ${seed}`);
      return run;
    });
  const policies: PolicySeedStats[] = policyNames.map((policy) => {
    const runs = bySeed(policy);
    const trainMode = runs.map((r) => r.valTrainModeAccuracy);
    return {
      policy,
      seeds,
      runIds: runs.map((r) => r.runId),
      valAccuracy: summarizeSeeds(runs.map((r) => r.valAccuracy)),
      valLoss: summarizeSeeds(runs.map((r) => r.valLoss)),
      valTrainModeAccuracy: trainMode.every((v): v is number => v !== null) ? summarizeSeeds(trainMode) : null,
      seconds: summarizeSeeds(runs.map((r) => r.seconds)),
      totalMeanShift: summarizeSeeds(runs.map((r) => r.totalMeanShift)),
      notConverged: runs.filter((r) => r.convergence?.converged === false).length,
    };
  });
  const correctness = (policy: string) =>
    bySeed(policy).map((r) => {
      if (!r.valCorrect) throw new Error(`run ${r.runId} recorded no per-image val correctness; paired verdicts need it`);
      return parseCorrectness(r.valCorrect);
    });
  const verdicts = [];
  for (let i = 0; i < policyNames.length; i++) {
    for (let j = i + 1; j < policyNames.length; j++) {
      verdicts.push(pairedVerdict(policyNames[i]!, correctness(policyNames[i]!), policyNames[j]!, correctness(policyNames[j]!)));
    }
  }
  return {
    format: 'bnlab-comparison@2',
    comparisonId,
    recipe,
    seeds,
    dataSeed: recipe.dataSeed ?? recipe.seed,
    valImages: summaries[0]?.valCorrect?.length ?? 0,
    policies,
    verdicts,
    runs: summaries,
    wallSeconds,
  };
}

const pct = (x: number) => (x * 100).toFixed(1);
const interval = (s: { ci95: [number, number] | null }) => (s.ci95 ? `[${pct(s.ci95[0])}, ${pct(s.ci95[1])}]` : '-');

/** The comparison as aligned text: one row per policy, then every pairwise verdict. */
export function formatComparison(report: ComparisonReport): string {
  const n = report.seeds.length;
  const rows = report.policies.map((p) => [
    p.policy,
    pct(p.valAccuracy.mean),
    interval(p.valAccuracy),
    p.valAccuracy.sd === null ? '-' : pct(p.valAccuracy.sd),
    p.valAccuracy.values.map(pct).join(' '),
    p.valLoss.mean.toFixed(3),
    p.valTrainModeAccuracy ? `${pct(p.valTrainModeAccuracy.mean)}${p.valTrainModeAccuracy.ci95 ? ` ${interval(p.valTrainModeAccuracy)}` : ''}` : '-',
    p.notConverged ? `${p.notConverged}/${n} NOT converged` : 'yes',
    p.seconds.mean.toFixed(1),
    p.totalMeanShift.mean.toFixed(2),
  ]);
  const header = ['policy', 'val acc %', '95 % interval', 'sd', `per seed (${report.seeds.join(', ')})`, 'val loss', 'val acc % (train-mode BN)', 'converged', 'time s', 'total BN mean shift'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const table = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  const verdicts = report.verdicts.map((v) => {
    const diff = `${v.difference >= 0 ? '+' : ''}${pct(v.difference)} points [${pct(v.ci95[0])}, ${pct(v.ci95[1])}]`;
    return `  ${v.a} vs ${v.b}: ${diff}, p ${v.pValue < 0.001 ? '< 0.001' : `= ${v.pValue.toFixed(3)}`}: ${v.text}`;
  });
  const note =
    n === 1
      ? 'one seed: no interval over seeds, and the verdicts cover image sampling only; use --seeds 5 before drawing conclusions'
      : `mean over ${n} seeds with 95 % Student-t interval over seeds; verdicts: paired over the same ${report.valImages} val images and seeds (server/stats/paired-verdict.ts)`;
  return [...table, '', `paired verdicts (A − B val accuracy, 95 % interval):`, ...verdicts, '', note, `wall time ${report.wallSeconds.toFixed(0)} s`].join('\n');
}
