/** `predict`: classify image files with a bnlab checkpoint, using the checkpoint's own preprocessing. */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ImageDataset } from '../data/dataset.ts';
import { isImageFileName } from '../data/scan.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { toImageTensor } from '../train/experiment.ts';

export interface Prediction {
  file: string;
  top: { label: string; probability: number }[];
}

export interface PredictResult {
  predictions: Prediction[];
  /** every input, or file inside an input folder, that gave no prediction, with the reason */
  skipped: { path: string; reason: string }[];
}

/**
 * Classify every readable image among `inputs` (files, or folders searched recursively). An input
 * that is missing, unreadable or holds no image is reported in `skipped` and the others still run.
 */
export async function predictFiles(checkpointDir: string, inputs: string[], topK = 3): Promise<PredictResult> {
  const { model, meta, optimizerState } = await loadCheckpoint(checkpointDir);
  optimizerState?.forEach((t) => t.tensor.dispose());
  const skipped: PredictResult['skipped'] = [];
  const files: string[] = [];
  for (const input of inputs) {
    const expanded = await expandInput(input);
    if ('reason' in expanded) skipped.push({ path: input, reason: expanded.reason });
    else files.push(...expanded.files);
  }
  const dataset = new ImageDataset({ items: files.map((p) => ({ path: p, label: 0 })), imageSize: meta.inputSize, preprocessing: meta.preprocessing, augment: null });
  const predictions: Prediction[] = [];
  for await (const batch of dataset.batches({ batchSize: 16, shuffle: false, seed: 0, epoch: 0 })) {
    const probs = tf.tidy(() => model.predict(toImageTensor(batch.images, batch.count, meta.inputSize)) as tf.Tensor2D);
    const rows = (await probs.array()) as number[][];
    probs.dispose();
    rows.forEach((row, i) => {
      const top = row
        .map((probability, index) => ({ label: meta.classes[index], probability }))
        .sort((a, b) => b.probability - a.probability)
        .slice(0, topK);
      predictions.push({ file: batch.paths[i], top });
    });
  }
  model.dispose();
  return { predictions, skipped: [...skipped, ...dataset.skipped] };
}

/** The image files an input names, or why it names none. */
async function expandInput(input: string): Promise<{ files: string[] } | { reason: string }> {
  let stat;
  try {
    stat = await fs.stat(input);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { reason: 'no such file or folder' };
    if (code === 'EACCES' || code === 'EPERM') return { reason: 'permission denied' };
    if (code === 'ELOOP') return { reason: 'symlink loop' };
    return { reason: `cannot read it (${code ?? (error as Error).message})` };
  }
  if (!stat.isDirectory()) return { files: [input] };
  let entries;
  try {
    entries = await fs.readdir(input, { recursive: true, withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { reason: code === 'EACCES' || code === 'EPERM' ? 'folder cannot be listed: permission denied' : `folder cannot be listed (${code ?? (error as Error).message})` };
  }
  const files = entries
    .filter((e) => e.isFile() && isImageFileName(e.name))
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .sort();
  return files.length ? { files } : { reason: 'folder holds no image files' };
}
