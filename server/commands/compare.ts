/**
 * Several policies on the same data split, seed and recipe, one after another in this process
 * (decoded images are shared). Which policy wins depends on the data, the head and the training
 * length: the table reports what the runs measured, nothing is tuned per policy.
 */
import type { BnlabConfig } from '../config.ts';
import { DecodedImageCache } from '../data/dataset.ts';
import type { RunListener, RunSummary } from '../schema/events.ts';
import type { PolicySpec, Recipe } from '../schema/recipe.ts';
import { comparisonRunId } from '../runs/run-ids.ts';
import { runTraining } from '../train/loop.ts';

export interface CompareOptions {
  comparisonId: string;
  config: BnlabConfig;
  onEvent: RunListener;
  signal?: AbortSignal;
  backend?: string | null;
}

export async function runComparison(recipe: Recipe, policies: PolicySpec[], opts: CompareOptions): Promise<RunSummary[]> {
  if (policies.length === 0) throw new Error('compare needs at least one policy');
  const cache = new DecodedImageCache();
  const summaries: RunSummary[] = [];
  for (const policy of policies) {
    const runId = comparisonRunId(opts.comparisonId, policy);
    summaries.push(await runTraining({ ...recipe, policy }, { runId, config: opts.config, onEvent: opts.onEvent, signal: opts.signal, backend: opts.backend, cache }));
  }
  return summaries;
}

/** The comparison table as aligned text. */
export function formatComparison(summaries: RunSummary[]): string {
  const rows = summaries.map((s) => [
    s.policy,
    (s.valAccuracy * 100).toFixed(1),
    s.valLoss.toFixed(3),
    s.valTrainModeAccuracy === null ? '-' : (s.valTrainModeAccuracy * 100).toFixed(1),
    s.seconds.toFixed(1),
    s.totalMeanShift.toFixed(2),
  ]);
  const header = ['policy', 'val acc %', 'val loss', 'val acc % (train-mode BN)', 'time s', 'total BN mean shift'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
