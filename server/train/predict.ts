/** `predict`: classify image files with a bnlab checkpoint, using the checkpoint's own preprocessing. */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ImageDataset } from '../data/dataset.ts';
import { isImageFileName } from '../data/scan.ts';
import { foldedPredictor } from '../model/folded-inference.ts';
import { loadCheckpoint } from './checkpoint.ts';
import { toImageTensor } from './experiment.ts';

export interface Prediction {
  file: string;
  top: { label: string; probability: number }[];
}

export async function predictFiles(checkpointDir: string, inputs: string[], topK = 3): Promise<{ predictions: Prediction[]; skipped: { path: string; reason: string }[] }> {
  const { model, meta, optimizerState } = await loadCheckpoint(checkpointDir);
  optimizerState?.forEach((t) => t.tensor.dispose());
  const files = (await Promise.all(inputs.map(expandInput))).flat();
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
  return { predictions, skipped: dataset.skipped };
}

async function expandInput(input: string): Promise<string[]> {
  const stat = await fs.stat(input);
  if (!stat.isDirectory()) return [input];
  const entries = await fs.readdir(input, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && isImageFileName(e.name))
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
    .sort();
}
