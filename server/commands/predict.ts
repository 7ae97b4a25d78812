/**
 * `predict`: classify image files with a model folder that describes its classes (a checkpoint,
 * a `recalibrate` or `export` output, a Teachable Machine export), using its own preprocessing.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadDescribedModel } from '../backbones/model-description.ts';
import { ImageDataset } from '../data/dataset.ts';
import { isImageFileName } from '../data/scan.ts';
import { foldedPredictor } from '../model/folded-inference.ts';
import type { Preprocessing } from '../schema/preprocessing.ts';
import { toImageTensor } from '../train/experiment.ts';

export interface Prediction {
  file: string;
  top: { label: string; probability: number }[];
}

export interface PredictResult {
  /** what was used, said before predicting */
  setup: { model: string; inputSize: number; preprocessing: Preprocessing; classes: string[]; from: string };
  predictions: Prediction[];
  /** every input, or file inside an input folder, that gave no prediction, with the reason */
  skipped: { path: string; reason: string }[];
  /**
   * Top-1 accuracy over the images whose parent folder is named like one of the model's classes
   * (root/<class>/<file> layouts); null when no image sits in such a folder.
   */
  accuracy: { correct: number; total: number; value: number } | null;
}

/** The class an image belongs to by its folder name, if that names one of `classes`. */
function folderLabel(file: string, classes: Set<string>): string | null {
  const name = path.basename(path.dirname(file));
  return classes.has(name) ? name : null;
}

/**
 * Classify every readable image among `inputs` (files, or folders searched recursively). An input
 * that is missing, unreadable or holds no image is reported in `skipped` and the others still run.
 */
export async function predictFiles(checkpointDir: string, inputs: string[], topK = 3, onSetup?: (setup: PredictResult['setup']) => void): Promise<PredictResult> {
  const { model, description: meta } = await loadDescribedModel(checkpointDir);
  const setup = { model: checkpointDir, inputSize: meta.inputSize, preprocessing: meta.preprocessing, classes: meta.classes, from: meta.from };
  onSetup?.(setup);
  const skipped: PredictResult['skipped'] = [];
  const files: string[] = [];
  for (const input of inputs) {
    const expanded = await expandInput(input);
    if ('reason' in expanded) skipped.push({ path: input, reason: expanded.reason });
    else files.push(...expanded.files);
  }
  const dataset = new ImageDataset({ items: files.map((p) => ({ path: p, label: 0 })), imageSize: meta.inputSize, preprocessing: meta.preprocessing, augment: null });
  const predictions: Prediction[] = [];
  // BN folded into the convolutions: same probabilities to float32 rounding, fewer passes (model/folded-inference.ts).
  const folded = foldedPredictor(model);
  for await (const batch of dataset.batches({ batchSize: 16, shuffle: false, seed: 0, epoch: 0 })) {
    const probs = tf.tidy(() => folded.predict(toImageTensor(batch.images, batch.count, meta.inputSize)) as tf.Tensor2D);
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
  folded.dispose();
  model.dispose();
  const known = new Set(meta.classes);
  const labelled = predictions.map((p) => ({ p, label: folderLabel(p.file, known) })).filter((x) => x.label !== null);
  const correct = labelled.filter((x) => x.p.top[0]?.label === x.label).length;
  const accuracy = labelled.length ? { correct, total: labelled.length, value: correct / labelled.length } : null;
  return { setup, predictions, skipped: [...skipped, ...dataset.skipped], accuracy };
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
