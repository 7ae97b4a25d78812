/** Loss and accuracy of a classifier over a dataset, in inference mode (no weight or statistic changes). */
import * as tf from '@tensorflow/tfjs';
import type { ImageDataset } from '../data/dataset.ts';
import { toImageTensor } from './experiment.ts';

export interface Evaluation {
  loss: number;
  accuracy: number;
  count: number;
  /**
   * Per item of the dataset, in `items` order: '1' classified right, '0' wrong, '-' not scored
   * (undecodable, or in a dropped last batch). Paired verdicts between runs need it.
   */
  correct: string;
}

/**
 * `shuffle` mixes the order with a fixed seed: needed when BN runs on batch statistics, since
 * folder-ordered batches hold one class each and batch statistics would erase the class signal.
 */
export async function evaluate(model: tf.LayersModel, dataset: ImageDataset, batchSize: number, opts: { minBatch?: number; shuffle?: boolean } = {}): Promise<Evaluation> {
  let lossSum = 0;
  let correct = 0;
  let count = 0;
  const marks = new Array<string>(dataset.items.length).fill('-');
  for await (const batch of dataset.batches({ batchSize, shuffle: opts.shuffle ?? false, seed: 0, epoch: 0 })) {
    if (batch.count < (opts.minBatch ?? 1)) continue;
    const sums = tf.tidy(() => {
      const x = toImageTensor(batch.images, batch.count, dataset.imageSize);
      const probs = model.predict(x) as tf.Tensor2D;
      const labels = tf.tensor1d(batch.labels.subarray(0, batch.count), 'int32');
      const loss = crossEntropy(probs, labels, probs.shape[1]).sum();
      const right = probs.argMax(1).equal(labels).cast('float32');
      return tf.concat([tf.stack([loss, right.sum()]), right]);
    });
    const values = await sums.data();
    sums.dispose();
    const [batchLoss, hits] = values;
    batch.indices.forEach((index, k) => (marks[index] = values[2 + k] === 1 ? '1' : '0'));
    lossSum += batchLoss;
    correct += hits;
    count += batch.count;
  }
  return { loss: count ? lossSum / count : NaN, accuracy: count ? correct / count : NaN, count, correct: marks.join('') };
}

/** Per-example cross-entropy of softmax probabilities against integer labels (clipped like Keras). */
export function crossEntropy(probs: tf.Tensor2D, labels: tf.Tensor1D, numClasses: number): tf.Tensor1D {
  const oneHot = tf.oneHot(labels, numClasses);
  const clipped = probs.clipByValue(1e-7, 1 - 1e-7);
  return oneHot.mul(clipped.log()).sum(1).neg() as tf.Tensor1D;
}
