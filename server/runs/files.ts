/**
 * The run folder (`<checkpoints>/<runId>/`), the one place its file names are written down. Train
 * writes these files (train/checkpoint.ts, train/listeners/metrics-file.ts, train/run-lock.ts);
 * the CLI and the dashboard read them back (history.ts).
 *
 *   model.json                 tfjs layers format; the commit point of a checkpoint
 *   weights-<step>.bin         its weights (optimizer-<step>.bin: optimizer state for --resume)
 *   checkpoint.json            CheckpointMeta: recipe, classes, preprocessing, epoch, step
 *   metrics.jsonl              every RunEvent of the run, one JSON object per line, in order
 *   .lock                      held by the process training into the folder
 *
 * Comparisons are grouped by manifests in `<checkpoints>/.dashboard/comparisons/<comparisonId>.json`.
 */
import path from 'node:path';
import { MODEL_JSON } from '../model/format.ts';

export const RUN_FILES = {
  model: MODEL_JSON,
  meta: 'checkpoint.json',
  metrics: 'metrics.jsonl',
  lock: '.lock',
  weights: (step: number) => `weights-${step}.bin`,
  optimizer: (step: number) => `optimizer-${step}.bin`,
  /** binaries of some step, and temp files of interrupted atomic writes: removed once stale */
  stale: /^(weights|optimizer)-\d+\.bin$|^\..*\.tmp$/,
} as const;

export function comparisonManifestsDir(checkpointsDir: string): string {
  return path.join(checkpointsDir, '.dashboard', 'comparisons');
}
