/** The comparison report is pure bookkeeping over run summaries: grouping by policy and seed, statistics, verdicts. */
import { describe, expect, it } from 'vitest';
import { type RunSummary } from '../schema/events.ts';
import { parseRecipe } from '../schema/recipe.ts';
import { pairedVerdict, parseCorrectness } from './paired-verdict.ts';
import { summarizeSeeds } from './seed-summary.ts';
import { comparisonReport, formatComparison } from './comparison-report.ts';

const recipe = parseRecipe({ backbone: 'demo', data: 'data/demo', seed: 3, seeds: 2 });
const run = (policy: string, seed: number, valCorrect: string, converged = true): RunSummary => ({
  runId: `cmp-${policy}-seed${seed}`,
  policy,
  valAccuracy: [...valCorrect].filter((c) => c === '1').length / valCorrect.length,
  valLoss: 0.5,
  valTrainModeAccuracy: policy === 'train-bn' ? 0.7 : null,
  seconds: 10 + seed,
  steps: 4,
  totalMeanShift: 0,
  skippedFiles: [],
  checkpointDir: '/tmp/x',
  seed,
  dataSeed: 3,
  valCorrect,
  convergence: { converged, relativeSlope: 0, reason: '' },
});

describe('comparisonReport', () => {
  const runs = [run('freeze-all', 3, '11110000'), run('train-bn', 3, '11111100'), run('freeze-all', 4, '11100000', false), run('train-bn', 4, '11111110')];
  const report = comparisonReport('cmp', recipe, ['freeze-all', 'train-bn'], runs, 42);

  it('groups runs by policy in seed order and summarises them', () => {
    expect(report.seeds).toEqual([3, 4]);
    expect(report.dataSeed).toBe(3);
    expect(report.valImages).toBe(8);
    expect(report.policies[0]).toMatchObject({ policy: 'freeze-all', runIds: ['cmp-freeze-all-seed3', 'cmp-freeze-all-seed4'], notConverged: 1, valTrainModeAccuracy: null });
    expect(report.policies[0]!.valAccuracy).toEqual(summarizeSeeds([0.5, 0.375]));
    expect(report.policies[1]!.valTrainModeAccuracy).toEqual(summarizeSeeds([0.7, 0.7]));
  });
  it('tests every pair on the per-image records, seed paired with seed', () => {
    expect(report.verdicts).toEqual([pairedVerdict('freeze-all', ['11110000', '11100000'].map(parseCorrectness), 'train-bn', ['11111100', '11111110'].map(parseCorrectness))]);
  });
  it('refuses a missing run or a run without per-image records', () => {
    expect(() => comparisonReport('cmp', recipe, ['freeze-all', 'train-bn'], runs.slice(0, 3), 1)).toThrow(/no run of train-bn with seed 4/);
    const bare = runs.map((r) => ({ ...r, valCorrect: undefined }));
    expect(() => comparisonReport('cmp', recipe, ['freeze-all', 'train-bn'], bare, 1)).toThrow(/no per-image val correctness/);
  });
  it('prints the table with intervals, per-seed values, the convergence column and the verdicts', () => {
    const text = formatComparison(report);
    expect(text).toMatch(/\| freeze-all +\| 43\.8 +\| \[-35\.7, 123\.2\] \| 8\.8 +\| 50\.0 37\.5 +\|/);
    expect(text).toMatch(/1\/2 NOT converged/);
    expect(text).toMatch(/freeze-all vs train-bn: -37\.5 points/);
  });
});
