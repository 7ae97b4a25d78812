/**
 * A bnlab checkpoint built in a test without training: the embedded demo backbone with a new
 * (seeded, untrained) head, saved in the checkpoint format, plus a small generated demo image folder.
 * Fast enough for unit tests of commands that read checkpoints (evaluate, adapt).
 */
import path from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { buildClassifier } from '../../server/backbones/head.ts';
import { loadBackbone } from '../../server/backbones/load.ts';
import { makeDemoDataset } from '../../server/demo/make-dataset.ts';
import { type CheckpointMeta } from '../../server/schema/checkpoint.ts';
import { parseRecipe } from '../../server/schema/recipe.ts';
import { saveCheckpoint } from '../../server/train/checkpoint.ts';

export async function makeDemoCheckpoint(work: string, opts: { perClassVal?: number; seed?: number } = {}): Promise<{ checkpoint: string; data: string; classes: string[] }> {
  const data = path.join(work, 'images');
  const summary = await makeDemoDataset(data, { perClassTrain: 2, perClassVal: opts.perClassVal ?? 6, seed: opts.seed ?? 3 });
  const backbone = await loadBackbone('demo', loadConfig());
  const { model } = buildClassifier(backbone, summary.classes.length, { hidden: [], dropout: 0 }, opts.seed ?? 3);
  const checkpoint = path.join(work, 'source');
  const meta: CheckpointMeta = {
    format: 'bnlab-checkpoint@1',
    runId: 'source',
    recipe: parseRecipe({ backbone: 'demo', data, policy: 'freeze-all' }),
    classes: summary.classes,
    preprocessing: backbone.entry.preprocessing,
    inputSize: backbone.entry.inputSize,
    epoch: 0,
    step: 0,
    completed: true,
    backend: 'test',
    time: new Date(0).toISOString(),
  };
  await saveCheckpoint(checkpoint, model, null, meta);
  model.dispose();
  return { checkpoint, data, classes: summary.classes };
}
