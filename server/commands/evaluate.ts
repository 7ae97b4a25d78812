/**
 * `evaluate`: accuracy, loss and per-image correctness of a checkpoint on a labelled image folder,
 * in inference mode (running BN statistics; nothing changes), with the checkpoint's own
 * preprocessing and input size.
 *
 * Which images: root/{train,val}/<class>/* evaluates val/; root/<class>/* evaluates every image
 * (the folder is the evaluation set, e.g. a corrupted copy written by `corrupt`). Class folders are
 * matched to the checkpoint's classes by name; a folder class the checkpoint does not know is an
 * error, a checkpoint class without a folder is fine (it just has no images).
 * Loss: mean cross-entropy with probabilities clipped to [1e-7, 1 - 1e-7] (train/evaluate.ts);
 * entropy: mean prediction entropy in nats (train/entropy.ts), which needs no labels.
 */
import * as tf from '@tensorflow/tfjs';
import type { CheckpointMeta } from '../schema/checkpoint.ts';
import { ImageDataset } from '../data/dataset.ts';
import { scanImageFolder, type SkippedFile } from '../data/scan.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { predictionEntropy } from '../train/entropy.ts';
import { crossEntropy } from '../train/evaluate.ts';
import { resolveDataPath, toImageTensor } from '../train/experiment.ts';

export interface ImageOutcome {
  file: string;
  label: string;
  predicted: string;
  /** probability of the predicted class */
  probability: number;
  correct: boolean;
}

export interface EvaluationReport {
  checkpoint: string;
  data: string;
  images: number;
  accuracy: number;
  loss: number;
  /** mean prediction entropy (nats) */
  entropy: number;
  perImage: ImageOutcome[];
  skipped: SkippedFile[];
}

type ModelMeta = Pick<CheckpointMeta, 'classes' | 'inputSize' | 'preprocessing'>;

/** The labelled images of `data` as a dataset whose labels index the checkpoint's classes. */
export async function labelledEvaluationSet(data: string, meta: ModelMeta): Promise<{ dataset: ImageDataset; root: string; skipped: SkippedFile[] }> {
  let split;
  try {
    split = await scanImageFolder(resolveDataPath(data), { valFraction: 0.2, seed: 0 });
  } catch (error) {
    throw new Error(`--data: ${(error as Error).message}`);
  }
  const index = split.classes.map((name) => meta.classes.indexOf(name));
  const unknown = split.classes.filter((_, i) => index[i] < 0);
  if (unknown.length) {
    throw new Error(`--data ${split.root}: class folder(s) ${unknown.join(', ')} are not classes of the checkpoint (${meta.classes.join(', ')})`);
  }
  const items = (split.layout === 'train-val' ? split.val : [...split.train, ...split.val])
    .map((item) => ({ path: item.path, label: index[item.label] }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const dataset = new ImageDataset({ items, imageSize: meta.inputSize, preprocessing: meta.preprocessing, augment: null });
  return { dataset, root: split.root, skipped: split.skipped };
}

/** Evaluate a loaded model on a labelled dataset (inference mode). */
export async function evaluateDataset(model: tf.LayersModel, dataset: ImageDataset, classes: string[], batchSize = 32): Promise<Omit<EvaluationReport, 'checkpoint' | 'data' | 'skipped'>> {
  const perImage: ImageOutcome[] = [];
  let lossSum = 0;
  let entropySum = 0;
  for await (const batch of dataset.batches({ batchSize, shuffle: false, seed: 0, epoch: 0 })) {
    const [probs, losses, entropies] = tf.tidy(() => {
      const p = model.predict(toImageTensor(batch.images, batch.count, dataset.imageSize)) as tf.Tensor2D;
      const labels = tf.tensor1d(batch.labels.subarray(0, batch.count), 'int32');
      return [p, crossEntropy(p, labels, classes.length), predictionEntropy(p)];
    });
    const rows = (await probs.array()) as number[][];
    const lossValues = await losses.data();
    const entropyValues = await entropies.data();
    tf.dispose([probs, losses, entropies]);
    rows.forEach((row, i) => {
      let best = 0;
      for (let c = 1; c < row.length; c++) if (row[c] > row[best]) best = c;
      const label = batch.labels[i];
      perImage.push({ file: batch.paths[i], label: classes[label], predicted: classes[best], probability: row[best], correct: best === label });
      lossSum += lossValues[i];
      entropySum += entropyValues[i];
    });
  }
  const images = perImage.length;
  if (images === 0) throw new Error(`--data: none of the ${dataset.items.length} images could be decoded${dataset.skipped[0] ? ` (e.g. ${dataset.skipped[0].path}: ${dataset.skipped[0].reason})` : ''}`);
  return { images, accuracy: perImage.filter((p) => p.correct).length / images, loss: lossSum / images, entropy: entropySum / images, perImage };
}

export async function evaluateCheckpoint(opts: { checkpoint: string; data: string; batchSize?: number }): Promise<EvaluationReport> {
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`--batch-size must be a positive integer, got ${opts.batchSize}`);
  const { model, meta, optimizerState } = await loadCheckpoint(opts.checkpoint);
  optimizerState?.forEach((t) => t.tensor.dispose());
  try {
    const { dataset, root, skipped } = await labelledEvaluationSet(opts.data, meta);
    const result = await evaluateDataset(model, dataset, meta.classes, batchSize);
    return { checkpoint: opts.checkpoint, data: root, ...result, skipped: [...skipped, ...dataset.skipped] };
  } finally {
    model.dispose();
  }
}
