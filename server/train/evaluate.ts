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
  const tally = new EvaluationTally(dataset.items.length);
  for await (const batch of dataset.batches({ batchSize, shuffle: opts.shuffle ?? false, seed: 0, epoch: 0 })) {
    if (batch.count < (opts.minBatch ?? 1)) continue;
    await tally.add(batch.indices, () => ({
      probs: model.predict(toImageTensor(batch.images, batch.count, dataset.imageSize)) as tf.Tensor2D,
      labels: tf.tensor1d(batch.labels.subarray(0, batch.count), 'int32'),
    }));
  }
  return tally.result();
}

/**
 * Loss, hits and per-item marks summed over scored batches, read with one download per batch:
 * evaluate() and the frozen-prefix path (frozen-prefix.ts) score their batches through it.
 */
export class EvaluationTally {
  private lossSum = 0;
  private correct = 0;
  private count = 0;
  private readonly marks: string[];

  constructor(items: number) {
    this.marks = new Array<string>(items).fill('-');
  }

  /** `score` runs inside tf.tidy; `indices` are the dataset items of its rows, in order. */
  async add(indices: number[], score: () => { probs: tf.Tensor2D; labels: tf.Tensor1D }): Promise<void> {
    const sums = tf.tidy(() => {
      const { probs, labels } = score();
      const loss = crossEntropy(probs, labels, probs.shape[1]).sum();
      const right = probs.argMax(1).equal(labels).cast('float32');
      return tf.concat([tf.stack([loss, right.sum()]), right]);
    });
    const values = await sums.data();
    sums.dispose();
    indices.forEach((index, k) => (this.marks[index] = values[2 + k] === 1 ? '1' : '0'));
    this.lossSum += values[0];
    this.correct += values[1];
    this.count += indices.length;
  }

  result(): Evaluation {
    const { lossSum, correct, count } = this;
    return { loss: count ? lossSum / count : NaN, accuracy: count ? correct / count : NaN, count, correct: this.marks.join('') };
  }
}

/** Per-example cross-entropy of softmax probabilities against integer labels (clipped like Keras). */
export function crossEntropy(probs: tf.Tensor2D, labels: tf.Tensor1D, numClasses: number): tf.Tensor1D {
  const oneHot = tf.oneHot(labels, numClasses);
  const clipped = probs.clipByValue(1e-7, 1 - 1e-7);
  return oneHot.mul(clipped.log()).sum(1).neg() as tf.Tensor1D;
}
