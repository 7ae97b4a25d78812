/**
 * Batch-size checks for BatchNorm layers in training mode. Such a layer normalises each channel with
 * the statistics of the values it sees in one step: batch × height × width of them. With a single
 * value the variance is 0 and the output is beta whatever the input, so bnlab refuses it; small
 * batches give noisy statistics, so it warns.
 * Batch size 1 is refused too unless the recipe says allowTinyBatch: the per-channel statistics
 * then come from one image, so BN normalises each image by its own mean and variance (erasing
 * exactly the contrast and colour differences between images) and the running statistics it
 * accumulates describe single images, not the data set.
 */
import type * as tf from '@tensorflow/tfjs';
import { SingleValueBatchNormError } from './bn-control.ts';
import { leafLayers } from '../model/layers.ts';

export interface BatchPlan {
  /** batches used per epoch */
  fullBatches: number;
  /** smallest batch a training step accepts (a smaller last batch is dropped) */
  minTrainBatch: number;
  warnings: string[];
}

export const SMALL_BATCH_WARNING = 8;

export class TinyBatchError extends Error {
  constructor(bnCount: number) {
    super(
      `batch size 1 with ${bnCount} BatchNorm layer(s) in training mode: each image would be normalised by its own per-channel mean and variance ` +
        '(per-image statistics), which erases the differences between images that the classifier needs, and the running statistics would describe ' +
        'single images instead of your data. Use --batch-size 8 or more (16 is typical), or a policy that keeps BN in inference mode (freeze-all, adabn); ' +
        'to run it anyway pass --allow-tiny-batch (recipe field allowTinyBatch: true).',
    );
    this.name = 'TinyBatchError';
  }
}

export function planBatches(model: tf.LayersModel, trainModeBn: string[], trainCount: number, batchSize: number, opts: { allowTinyBatch?: boolean } = {}): BatchPlan {
  if (trainCount === 0) throw new Error('the training split has no images');
  if (batchSize > trainCount) {
    throw new Error(`batchSize ${batchSize} is larger than the ${trainCount} training images; use a batch size of at most ${trainCount}`);
  }
  if (batchSize === 1 && trainModeBn.length > 0 && !opts.allowTinyBatch) throw new TinyBatchError(trainModeBn.length);
  const warnings: string[] = [];
  const trainMode = new Set(trainModeBn);
  const bnLayers = leafLayers(model).filter((layer) => trainMode.has(layer.name));
  let smallest: { name: string; perExample: number } | null = null;
  for (const layer of bnLayers) {
    const shape = layer.outputShape as (number | null)[];
    const perExample = shape.slice(1, -1).reduce<number>((a, b) => a * (b ?? 1), 1);
    if (!smallest || perExample < smallest.perExample) smallest = { name: layer.name, perExample };
  }
  let minTrainBatch = 1;
  if (smallest) {
    minTrainBatch = Math.ceil(2 / smallest.perExample);
    if (batchSize < minTrainBatch) throw new SingleValueBatchNormError(smallest.name, [batchSize, ...((model.getLayer(smallest.name).outputShape as number[]).slice(1))]);
    if (batchSize < SMALL_BATCH_WARNING) {
      warnings.push(`batch size ${batchSize} is below ${SMALL_BATCH_WARNING} with ${bnLayers.length} BN layer(s) in training mode: batch statistics will be noisy; prefer 16 or more, or a policy with frozen BN (freeze-all, adabn)`);
    }
  }
  const remainder = trainCount % batchSize;
  const lastUsable = remainder > 0 && remainder >= minTrainBatch;
  if (remainder > 0 && !lastUsable) {
    warnings.push(`the last partial batch (${remainder} image) is dropped every epoch: BN layer '${smallest!.name}' in training mode cannot normalise a single value per channel`);
  }
  return { fullBatches: Math.floor(trainCount / batchSize) + (lastUsable ? 1 : 0), minTrainBatch, warnings };
}
