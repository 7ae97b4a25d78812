/**
 * TENT: test-time entropy minimisation (Wang, Shelhamer, Liu, Olshausen & Darrell, "Tent: Fully
 * Test-Time Adaptation by Entropy Minimization", ICLR 2021). On unlabelled target batches every
 * BatchNorm layer normalises with the batch's mean and biased variance, and only BN gamma/beta are
 * updated, by gradient steps on the mean prediction entropy of the batch (entropy.ts). Everything
 * else is frozen (the plan is policies/tent.ts; per-layer BN mode from policies/bn-mode.ts).
 *
 * Optimizer: Adam (createOptimizer, train/optimizer.ts), as the paper uses for its CIFAR
 * experiments (Adam, lr 1e-3, batch 128; its ImageNet runs use SGD with momentum 0.9, lr 2.5e-4,
 * batch 64). One step per batch; the caller decides the batches (adapt.ts: `steps` batches drawn
 * in a seeded random order, epoch after epoch, see `tentBatches`).
 *
 * Running statistics: tfjs's training-mode BN also moves the moving mean/variance by EMA; TENT
 * does not use them (its BN layers drop running statistics), so they are restored after the loop:
 * this function changes gamma/beta and nothing else. `adapt` then writes the target population
 * statistics (what TENT's batch statistics estimate) so the checkpoint runs in inference mode.
 * Also restored: trainable flags, BN modes (inference) and dropout rates (dropout is off while
 * adapting, as it is at test time).
 *
 * Batches of one image are refused: a BN layer after global pooling or a dense layer would
 * normalise one value per channel, and even convolutional BN layers would normalise per image.
 */
import * as tf from '@tensorflow/tfjs';
import { isBatchNorm, leafLayers } from '../model/layers.ts';
import { useLeanTraining } from '../engine/ops/lean-training.ts';
import type { ImageBatch, ImageDataset } from '../data/dataset.ts';
import { applyPlan } from './apply-plan.ts';
import { BnController } from './bn-control.ts';
import { describeLayers } from '../policies/plan.ts';
import { tentPlan } from '../policies/tent.ts';
import { bnVariables } from '../model/batch-norm.ts';
import { predictionEntropy } from './entropy.ts';
import { toImageTensor } from './experiment.ts';
import { createOptimizer } from './optimizer.ts';

export const TENT_DEFAULTS = { lr: 1e-3, batchSize: 32 } as const;

export interface TentOptions {
  /** Adam learning rate (default 1e-3) */
  lr?: number;
  /** called after each step with the batch's mean entropy before that step's update */
  onStep?: (step: number, entropy: number) => void;
}

export interface TentResult {
  steps: number;
  /** mean prediction entropy (nats) of each step's batch, in batch-statistics mode, before its update */
  entropies: number[];
  /** BN layers whose gamma/beta were adapted */
  layers: string[];
}

export class TentBatchSizeError extends Error {
  constructor(size: number) {
    super(
      `TENT got a batch of ${size} image(s): BatchNorm in training mode normalises with the batch's statistics, which for one image ` +
        'are those of that image alone (one value per channel after pooling), so entropy minimisation would adapt to noise. Use --batch-size 2 or more (16–64 is usual).',
    );
    this.name = 'TentBatchSizeError';
  }
}

/** Run one TENT step per batch from `batches` (each disposed after use). Changes only BN gamma/beta. */
export async function tentAdapt(model: tf.LayersModel, batches: AsyncIterable<tf.Tensor4D>, opts: TentOptions = {}): Promise<TentResult> {
  const layers = leafLayers(model);
  const trainable = layers.map((layer) => layer.trainable);
  const bnLayers = layers.filter(isBatchNorm);
  const moving = bnLayers.map((layer) => {
    const v = bnVariables(layer);
    return [v.movingMean.read().clone(), v.movingVariance.read().clone()];
  });
  const dropouts = layers.filter((l) => l.getClassName() === 'Dropout') as unknown as { rate: number }[];
  const rates = dropouts.map((d) => d.rate);
  const bn = new BnController(model);
  useLeanTraining(model); // same values and gradients, less time and memory (as in training runs)
  const plan = tentPlan(describeLayers(model, []));
  const optimizer = createOptimizer({ type: 'adam', lr: opts.lr ?? TENT_DEFAULTS.lr, momentum: 0.9, schedule: 'constant', stepEvery: 1 });
  const entropies: number[] = [];
  try {
    const variables = applyPlan(model, plan, bn, null);
    if (variables.length === 0) throw new Error('TENT found no BatchNorm gamma/beta to adapt (every BN layer has center=false and scale=false)');
    dropouts.forEach((d) => (d.rate = 0));
    for await (const batch of batches) {
      try {
        if (batch.shape[0] < 2) throw new TentBatchSizeError(batch.shape[0]);
        const loss = tf.tidy(() =>
          optimizer.minimize(() => predictionEntropy(model.apply(batch, { training: true }) as tf.Tensor2D).mean() as tf.Scalar, true, variables)!,
        );
        const value = (await loss.data())[0];
        loss.dispose();
        if (!Number.isFinite(value)) throw new Error(`TENT: the entropy became ${value} at step ${entropies.length + 1}; lower --lr`);
        entropies.push(value);
        opts.onStep?.(entropies.length, value);
      } finally {
        batch.dispose();
      }
    }
  } finally {
    optimizer.dispose();
    bnLayers.forEach((layer, i) => {
      const v = bnVariables(layer);
      v.movingMean.write(moving[i][0]);
      v.movingVariance.write(moving[i][1]);
      bn.setMode(layer.name, 'inference');
    });
    moving.flat().forEach((t) => t.dispose());
    layers.forEach((layer, i) => (layer.trainable = trainable[i]));
    dropouts.forEach((d, i) => (d.rate = rates[i]));
  }
  return { steps: entropies.length, entropies, layers: [...plan.bnAffineTrainable] };
}

/**
 * `steps` batches of `batchSize` target images in a seeded random order: epoch e is the dataset
 * shuffled with hashSeed(seed, e) (ImageDataset), epochs follow each other until `steps` batches
 * were given; a last partial batch of one image is skipped. Labels are ignored.
 */
export async function* tentBatches(dataset: ImageDataset, batchSize: number, steps: number, seed: number): AsyncGenerator<tf.Tensor4D> {
  if (batchSize < 2) throw new TentBatchSizeError(batchSize);
  let given = 0;
  for (let epoch = 0; given < steps; epoch++) {
    let usable = 0;
    for await (const batch of dataset.batches({ batchSize, shuffle: true, seed, epoch })) {
      if (batch.count < 2) continue;
      usable++;
      yield toImageTensor(batch.images, batch.count, dataset.imageSize);
      if (++given >= steps) return;
    }
    if (usable === 0) throw new Error(`no batch of at least 2 decodable images in the target data (${dataset.skipped.length} file(s) could not be decoded)`);
  }
}

/** Default number of steps: one pass over the target images (full batches, plus a last one of >= 2). */
export function onePassSteps(images: number, batchSize: number): number {
  return Math.floor(images / batchSize) + (images % batchSize >= 2 ? 1 : 0);
}

export interface EpisodicPrediction {
  file: string;
  /** class probabilities after this image's batch was adapted */
  probabilities: number[];
}

/**
 * Episodic TENT (the paper's "episodic" variant): every batch starts from the source model. For
 * each batch of `batchSize` images in a seeded random order (a last batch of one image joins the
 * batch before it): reset gamma/beta, take `steps` TENT steps on that batch (fresh Adam), then
 * predict the batch with BN on batch statistics, as TENT predicts. No single adapted model exists
 * afterwards; the model is left as it was (source gamma/beta and statistics).
 */
export async function tentEpisodic(
  model: tf.LayersModel,
  dataset: ImageDataset,
  opts: { batchSize: number; steps: number; lr?: number; seed: number; onBatch?: (done: number, images: number) => void },
): Promise<EpisodicPrediction[]> {
  if (opts.batchSize < 2) throw new TentBatchSizeError(opts.batchSize);
  const bnLayers = leafLayers(model).filter(isBatchNorm);
  const source = bnLayers.map((layer) => layer.getWeights().map((w) => w.clone()));
  const bn = new BnController(model);
  const out: EpisodicPrediction[] = [];
  const episode = async (batch: ImageBatch) => {
    bnLayers.forEach((layer, i) => layer.setWeights(source[i]));
    const x = () => toImageTensor(batch.images, batch.count, dataset.imageSize);
    await tentAdapt(model, (async function* () {
      for (let k = 0; k < opts.steps; k++) yield x();
    })(), { lr: opts.lr });
    const probs = await bn.withBatchStatistics(async () => {
      const input = x();
      const result = model.predict(input) as tf.Tensor2D;
      input.dispose();
      const rows = (await result.array()) as number[][];
      result.dispose();
      return rows;
    });
    probs.forEach((row, i) => out.push({ file: batch.paths[i], probabilities: row }));
    opts.onBatch?.(out.length, dataset.size);
  };
  try {
    let pending: ImageBatch | null = null;
    for await (const batch of dataset.batches({ batchSize: opts.batchSize, shuffle: true, seed: opts.seed, epoch: 0 })) {
      if (pending && batch.count < 2) {
        pending = joinBatches(pending, batch);
        continue;
      }
      if (pending) await episode(pending);
      pending = batch;
    }
    if (pending) {
      if (pending.count < 2) throw new Error('episodic TENT needs at least 2 decodable target images');
      await episode(pending);
    }
  } finally {
    bnLayers.forEach((layer, i) => layer.setWeights(source[i]));
    source.flat().forEach((t) => t.dispose());
  }
  return out;
}

function joinBatches(a: ImageBatch, b: ImageBatch): ImageBatch {
  const images = new Float32Array(a.images.length + b.images.length);
  images.set(a.images);
  images.set(b.images, a.images.length);
  const labels = new Int32Array(a.count + b.count);
  labels.set(a.labels.subarray(0, a.count));
  labels.set(b.labels.subarray(0, b.count), a.count);
  return { images, labels, count: a.count + b.count, paths: [...a.paths, ...b.paths], indices: [...a.indices, ...b.indices] };
}
