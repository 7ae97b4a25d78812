/**
 * Frozen work done once: where training data reaches the part of the network that trains.
 *
 * A policy that freezes a prefix of the network (freeze-all, adabn after its recalibration, the
 * frozen part of unfreeze-last:n) makes that prefix a pure function of the image when its BN
 * layers run on running statistics and the input pipeline is deterministic (augmentation off: no
 * random crop, no flip). Its output is then computed once per image and training runs only the
 * rest, across epochs and across the runs of one process that share the prefix (same layers,
 * same weights and statistics, same image size and preprocessing: the cache key hashes them), as
 * Teachable Machine does by hand for its head. bnlab does it automatically and exactly: the
 * prefix runs the same layer calls in inference mode as the whole model would (model/layer-graph.ts),
 * the tail runs in training mode from those values, batches come in the same order, and the loss
 * trajectory is identical (frozen-prefix.test.ts).
 *
 * The prefix is the largest set of layers, from the input, with no trainable weights and no
 * randomness (dropout, noise); it is used when it holds at least one BN layer (otherwise there is
 * nothing worth skipping). Three sources:
 *   - 'cached-prefix': prefix outputs held per image (SpillStore: BNLAB_FEATURE_CACHE_MB, default
 *     1 GiB in memory, spilled to disk past it), with each image's per-channel mean of every
 *     prefix BN layer's input; on the steps that capture BN batch means for drift, a prefix
 *     layer's batch mean is the float64 average of its images' means (every image has the same
 *     H x W, so this is the batch mean over N*H*W, equal to the live tf.mean up to float32
 *     rounding: the drift `batchGap` of prefix layers matches to ~1e-6, everything else exactly).
 *   - 'split-prefix': the prefix runs every step, but outside the gradient tape (augmentation on,
 *     or BN in training mode inside it as in bn-stats-only): no backward pass and no
 *     backprop memory for layers that do not train.
 *   - 'model': the whole model every step (policies that train from the first layers, or
 *     BNLAB_FROZEN_PREFIX=0).
 * AdaBN's recalibration before training is frozen work too: `recalibrateOnce` keeps its result per
 * (layers up to the last BN input with their weights, images, batch size) and writes the same
 * statistics again for a later run of the process that would compute them (the seeds of a
 * comparison on a fixed train/val split); BNLAB_FROZEN_PREFIX=0 turns that off as well.
 */
import crypto from 'node:crypto';
import { stat } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { isBatchNorm } from '../model/layers.ts';
import type { BatchOptions, ImageBatch, ImageDataset } from '../data/dataset.ts';
import { budgetFromEnv, DEFAULT_SPILL_BUDGET_BYTES, SpillStore } from '../data/spill-store.ts';
import { LayerGraph, UnsupportedGraphError, type GraphStep } from '../model/layer-graph.ts';
import type { BnController } from './bn-control.ts';
import type { AugmentConfig } from '../schema/recipe.ts';
import { recalibrateBatchNorm, type ChannelMoments } from '../stats/population.ts';
import { evaluate, EvaluationTally, type Evaluation } from './evaluate.ts';
import { imageTensors, toImageTensor } from './experiment.ts';
import { minimizeCrossEntropy, trainStep } from './step.ts';

type Symbolic = tf.SymbolicTensor;

/** Layers whose training-mode output is random: never part of a frozen prefix. */
const STOCHASTIC = new Set(['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

export interface SourceBatch {
  count: number;
  labels: Int32Array;
  /** rendered pixels (null for cached batches: rendered only when a step needs them) */
  images: Float32Array | null;
  /** dataset item indices, in batch order */
  indices: number[];
  seed: number;
  epoch: number;
}

export interface TrainingSource {
  kind: 'model' | 'cached-prefix' | 'split-prefix';
  /** one line for the run log: what is computed once, or why it is not */
  note: string | null;
  /** the training batches, in exactly the order and grouping of `train.batches(opts)` */
  batches(opts: BatchOptions): AsyncIterable<SourceBatch>;
  /** one optimizer step; resolves to [loss, hits, outputSum] like run.ts trainStep */
  step(optimizer: tf.Optimizer, variables: tf.Variable[], batch: SourceBatch, opts: { capture: boolean }): Promise<tf.Tensor1D>;
  /** loss and accuracy over a dataset with the model's current weights, in inference mode (as evaluate.ts) */
  evaluate(dataset: ImageDataset, batchSize: number): Promise<Evaluation>;
}

export interface TrainingSourceOptions {
  model: tf.LayersModel;
  bn: BnController;
  train: ImageDataset;
  augment: AugmentConfig;
  inputSize: number;
  numClasses: number;
  batchSize: number;
  /** BNLAB_FROZEN_PREFIX=0 turns the prefix paths off (default on) */
  env?: NodeJS.ProcessEnv;
}

/** Whether the training pipeline renders every image the same way every epoch. */
export function isDeterministicAugment(augment: AugmentConfig): boolean {
  return !augment.randomResizedCrop && !augment.horizontalFlip;
}

/** The prefix split of a model (see the module comment), or null when there is none worth using. */
export interface FrozenPrefix {
  graph: LayerGraph;
  steps: GraphStep[];
  /** prefix tensors the tail reads */
  boundary: Symbolic[];
  tail: GraphStep[];
  output: Symbolic;
  bnLayers: string[];
  /** BN layers in the prefix that run in training mode (the prefix can then not be cached) */
  trainModeBn: string[];
}

export function findFrozenPrefix(model: tf.LayersModel, bn: BnController): FrozenPrefix | null {
  let graph: LayerGraph;
  let all: GraphStep[];
  try {
    graph = new LayerGraph(model);
    if (model.outputs.length !== 1) return null;
    all = graph.stepsFor(model.outputs, new Set());
  } catch (error) {
    if (error instanceof UnsupportedGraphError) return null;
    throw error;
  }
  const frozenTensors = new Set<Symbolic>([graph.input]);
  const frozenSteps = new Set<GraphStep>();
  for (const step of all) {
    const layer = step.layer;
    const frozen = step.inputs.every((t) => frozenTensors.has(t)) && layer.trainableWeights.length === 0 && !STOCHASTIC.has(layer.getClassName());
    if (!frozen) continue;
    frozenSteps.add(step);
    step.outputs.forEach((t) => frozenTensors.add(t));
  }
  const output = graph.canonical(model.outputs[0]);
  const boundarySet = new Set<Symbolic>();
  for (const step of all) {
    if (frozenSteps.has(step)) continue;
    for (const t of step.inputs) if (frozenTensors.has(t)) boundarySet.add(t);
  }
  if (frozenTensors.has(output) || boundarySet.size === 0) return null; // nothing trains after it
  const boundary = [...boundarySet];
  const steps = graph.stepsFor(boundary, new Set());
  const bnLayers = steps.filter((s) => isBatchNorm(s.layer)).map((s) => s.layer.name);
  if (bnLayers.length === 0) return null;
  const tail = graph.stepsFor([output], new Set(steps));
  const trainModeBn = bnLayers.filter((name) => bn.mode(name) === 'train');
  return { graph, steps, boundary, tail, output, bnLayers, trainModeBn };
}

/**
 * Where the training loop gets its batches and how it steps: the call run.ts makes once the
 * model is final for the frozen part (after AdaBN's recalibration).
 */
export async function prepareTrainingSource(opts: TrainingSourceOptions): Promise<TrainingSource> {
  const env = opts.env ?? process.env;
  const whole = modelSource(opts);
  if (env.BNLAB_FROZEN_PREFIX === '0') return { ...whole, note: 'frozen prefix off (BNLAB_FROZEN_PREFIX=0): the whole model runs every step' };
  const prefix = findFrozenPrefix(opts.model, opts.bn);
  if (!prefix) return whole;
  const what = `frozen prefix of ${prefix.bnLayers.length} BN layer(s) up to ${prefix.boundary.map((t) => t.sourceLayer.name).join(', ')}`;
  if (prefix.trainModeBn.length > 0) {
    return { ...splitSource(opts, prefix), note: `${what}: its BN layers run in training mode, so it is recomputed every step, outside the gradient tape (no backward pass into it)` };
  }
  if (!isDeterministicAugment(opts.augment)) {
    return { ...splitSource(opts, prefix), note: `${what}: augmentation is on (random crop/flip), so it is recomputed every step, outside the gradient tape; turn augmentation off to compute it once per image` };
  }
  const cached = await cachedSource(opts, prefix);
  return cached;
}

// ---------------------------------------------------------------------------------------------

function modelSource(opts: TrainingSourceOptions): TrainingSource {
  return {
    kind: 'model',
    note: null,
    batches: (batchOpts) => imageBatches(opts.train, batchOpts),
    step: async (optimizer, variables, batch) =>
      trainStep(opts.model, optimizer, variables, batch.images!, batch.labels, batch.count, opts.inputSize, opts.numClasses),
    evaluate: (dataset, batchSize) => evaluate(opts.model, dataset, batchSize),
  };
}

async function* imageBatches(dataset: ImageDataset, batchOpts: BatchOptions): AsyncGenerator<SourceBatch & { paths: string[] }> {
  for await (const batch of dataset.batches(batchOpts)) yield fromImageBatch(batch, batchOpts);
}

function fromImageBatch(batch: ImageBatch, batchOpts: Pick<BatchOptions, 'seed' | 'epoch'>): SourceBatch & { paths: string[] } {
  return { count: batch.count, labels: batch.labels, images: batch.images, indices: [], paths: batch.paths, seed: batchOpts.seed, epoch: batchOpts.epoch };
}

/** The prefix's boundary values for a batch of images (call inside tf.tidy). */
function runPrefix(prefix: FrozenPrefix, x: tf.Tensor, training: boolean): tf.Tensor[] {
  const values = LayerGraph.run(prefix.steps, new Map([[prefix.graph.input, x]]), { training });
  return prefix.boundary.map((t) => values.get(t)!);
}

/** Boundary values plus, per image, the channel means of every prefix BN layer's input ([N, sum of channels]). Inside tf.tidy. */
function runPrefixWithMeans(prefix: FrozenPrefix, x: tf.Tensor): { boundary: tf.Tensor[]; means: tf.Tensor2D } {
  const values = LayerGraph.run(prefix.steps, new Map([[prefix.graph.input, x]]), { training: false });
  const perLayer = prefix.steps
    .filter((s) => isBatchNorm(s.layer))
    .map((s) => {
      const input = values.get(s.inputs[0])!;
      const axes = input.shape.slice(1, -1).map((_, i) => i + 1);
      return (axes.length ? tf.mean(input, axes) : input) as tf.Tensor2D;
    });
  return { boundary: prefix.boundary.map((t) => values.get(t)!), means: tf.concat(perLayer, 1) as tf.Tensor2D };
}

function runTail(prefix: FrozenPrefix, features: tf.Tensor[], training: boolean): tf.Tensor2D {
  const feeds = new Map(prefix.boundary.map((t, i) => [t, features[i]] as const));
  return LayerGraph.run(prefix.tail, feeds, { training }).get(prefix.output) as tf.Tensor2D;
}

/**
 * step.ts trainStep with the forward pass split: the prefix values come from `features` (computed
 * outside the gradient tape), the tail runs inside it. Same loss, hits and output sum.
 */
function tailStep(prefix: FrozenPrefix, optimizer: tf.Optimizer, variables: tf.Variable[], features: () => tf.Tensor[], labels: Int32Array, count: number, numClasses: number): tf.Tensor1D {
  return tf.tidy(() => {
    const inputs = features();
    return minimizeCrossEntropy(optimizer, variables, () => runTail(prefix, inputs, true), labels, count, numClasses);
  });
}

function splitSource(opts: TrainingSourceOptions, prefix: FrozenPrefix): TrainingSource {
  return {
    kind: 'split-prefix',
    note: null,
    batches: (batchOpts) => imageBatches(opts.train, batchOpts),
    step: async (optimizer, variables, batch) =>
      tailStep(prefix, optimizer, variables, () => runPrefix(prefix, toImageTensor(batch.images!, batch.count, opts.inputSize), true), batch.labels, batch.count, opts.numClasses),
    evaluate: (dataset, batchSize) => evaluate(opts.model, dataset, batchSize),
  };
}

// ---------------------------------------------------------------------------------------------
// The cache

/** Per-image prefix values, keyed by prefix fingerprint and file path; shared by the runs of a process. */
let processStore: SpillStore | null = null;

function featureStore(): SpillStore {
  if (!processStore) {
    processStore = new SpillStore({ budgetBytes: budgetFromEnv('BNLAB_FEATURE_CACHE_MB', DEFAULT_SPILL_BUDGET_BYTES) });
    const store = processStore;
    process.once('exit', () => store.close());
  }
  return processStore;
}

/** Drop every cached prefix value and remembered recalibration (tests; a long-lived process that wants its memory back). */
export function clearFrozenPrefixCache(): void {
  processStore?.close();
  processStore = null;
  recalibrations.clear();
}

/**
 * Identity of a prefix computation: every prefix layer's class, config and weights (BN running
 * statistics included), the boundary, and the image rendering. Equal fingerprints give equal values.
 */
function fingerprint(prefix: FrozenPrefix, dataset: ImageDataset): string {
  const hash = crypto.createHash('sha256');
  hash.update(JSON.stringify({ imageSize: dataset.imageSize, preprocessing: dataset.preprocessing, boundary: prefix.boundary.map((t) => `${t.sourceLayer.name}:${t.outputTensorIndex ?? 0}`) }));
  for (const step of prefix.steps) {
    hash.update(`${step.layer.getClassName()}\0${step.layer.name}\0${JSON.stringify(step.layer.getConfig())}\0`);
    for (const weight of step.layer.getWeights()) {
      const values = weight.dataSync() as Float32Array;
      hash.update(`${weight.shape.join('x')}:`);
      hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    }
  }
  return hash.digest('hex').slice(0, 32);
}

async function cachedSource(opts: TrainingSourceOptions, prefix: FrozenPrefix): Promise<TrainingSource> {
  const store = featureStore();
  const fp = fingerprint(prefix, opts.train);
  const perImage = prefix.boundary.map((t) => t.shape.slice(1) as number[]);
  const sizes = perImage.map((shape) => shape.reduce((a, b) => a * b, 1));
  const key = (dataset: ImageDataset, index: number, b: number) => `${fp}\0${dataset.items[index]!.path}\0${b}`;
  const meanKey = (dataset: ImageDataset, index: number) => `${fp}\0${dataset.items[index]!.path}\0means`;
  const bnSteps = prefix.steps.filter((s) => isBatchNorm(s.layer));
  const bnChannels = bnSteps.map((s) => s.inputs[0].shape[s.inputs[0].shape.length - 1] as number);
  const meanWidth = bnChannels.reduce((a, b) => a + b, 0);
  /** Batch means of the prefix BN inputs from the images' means, handed to the BN controller for drift. */
  const provideBatchMeans = (indices: number[]) => {
    const sums = new Float64Array(meanWidth);
    for (const index of indices) {
      const means = store.get(meanKey(opts.train, index));
      for (let c = 0; c < meanWidth; c++) sums[c] += means[c];
    }
    let offset = 0;
    bnSteps.forEach((step, i) => {
      const mean = new Float32Array(bnChannels[i]);
      for (let c = 0; c < mean.length; c++) mean[c] = sums[offset + c] / indices.length;
      offset += mean.length;
      opts.bn.provideBatchMean(step.layer.name, mean);
    });
  };
  const started = performance.now();
  let computed = 0;

  /** Compute and store the prefix values of every item of `dataset` that has none yet. */
  const fill = async (dataset: ImageDataset) => {
    const missing = dataset.epochOrder({ shuffle: false, seed: 0, epoch: 0 }).filter((i) => !store.has(key(dataset, i, 0)));
    for (let start = 0; start < missing.length; start += opts.batchSize) {
      const chunk = missing.slice(start, start + opts.batchSize);
      const batch = await dataset.renderBatch(chunk, { seed: 0, epoch: 0 });
      if (batch.count === 0) continue;
      const { boundary, means } = tf.tidy(() => runPrefixWithMeans(prefix, toImageTensor(batch.images, batch.count, dataset.imageSize)));
      try {
        const byPath = new Map(chunk.map((i) => [dataset.items[i]!.path, i]));
        for (const [b, value] of boundary.entries()) {
          const data = (await value.data()) as Float32Array;
          batch.paths.forEach((p, slot) => store.put(key(dataset, byPath.get(p)!, b), data.slice(slot * sizes[b], (slot + 1) * sizes[b])));
        }
        const meanData = (await means.data()) as Float32Array;
        batch.paths.forEach((p, slot) => store.put(meanKey(dataset, byPath.get(p)!), meanData.slice(slot * meanWidth, (slot + 1) * meanWidth)));
        computed += batch.count;
      } finally {
        tf.dispose([...boundary, means]);
      }
    }
  };

  /** The cached prefix values of `indices` as batch tensors (call inside tf.tidy). */
  const gather = (dataset: ImageDataset, indices: number[]): tf.Tensor[] =>
    prefix.boundary.map((_, b) => {
      const data = new Float32Array(indices.length * sizes[b]);
      indices.forEach((index, slot) => data.set(store.get(key(dataset, index, b)), slot * sizes[b]));
      return tf.tensor(data, [indices.length, ...perImage[b]]);
    });

  /**
   * Batches of good items in the order batches() would give. batches() shuffles over the files not
   * yet known to fail when its epoch starts (all of them in the run's first epoch, since the
   * uncached loop only discovers failures while training) and then skips the failing ones.
   */
  const firstEpoch = new Set<ImageDataset>();
  const groups = (dataset: ImageDataset, batchOpts: BatchOptions): number[][] => {
    const fresh = !firstEpoch.has(dataset);
    firstEpoch.add(dataset);
    const failed = new Set(dataset.skipped.map((f) => f.path));
    const order = dataset.epochOrder(batchOpts, !fresh).filter((i) => !failed.has(dataset.items[i]!.path));
    const out: number[][] = [];
    for (let start = 0; start < order.length; start += batchOpts.batchSize) out.push(order.slice(start, start + batchOpts.batchSize));
    return out;
  };

  await fill(opts.train);
  const seconds = (performance.now() - started) / 1000;
  const mib = (bytes: number) => (bytes / 1024 ** 2).toFixed(1);
  const valuesPerImage = sizes.reduce((a, b) => a + b, 0);
  const note =
    `frozen prefix of ${prefix.bnLayers.length} BN layer(s) up to ${prefix.boundary.map((t) => t.sourceLayer.name).join(', ')} computed once per image ` +
    `(${valuesPerImage} values/image; ${computed} computed in ${seconds.toFixed(1)} s, ${opts.train.size - computed} reused; ` +
    `cache ${mib(store.bytesInMemory)} MiB in memory of ${mib(store.budgetBytes)} MiB BNLAB_FEATURE_CACHE_MB${store.spilled ? `, ${mib(store.diskBytes)} MiB spilled to disk` : ''})`;

  return {
    kind: 'cached-prefix',
    note,
    async *batches(batchOpts) {
      for (const indices of groups(opts.train, batchOpts)) {
        const labels = Int32Array.from(indices, (i) => opts.train.items[i]!.label);
        yield { count: indices.length, labels, images: null, indices, seed: batchOpts.seed, epoch: batchOpts.epoch };
      }
    },
    async step(optimizer, variables, batch, { capture }) {
      if (capture) provideBatchMeans(batch.indices); // drift reads every BN layer's batch mean
      return tailStep(prefix, optimizer, variables, () => gather(opts.train, batch.indices), batch.labels, batch.count, opts.numClasses);
    },
    async evaluate(dataset, batchSize) {
      if (dataset.augment && !isDeterministicAugment(dataset.augment)) return evaluate(opts.model, dataset, batchSize);
      await fill(dataset);
      const tally = new EvaluationTally(dataset.items.length);
      for (const indices of groups(dataset, { batchSize, shuffle: false, seed: 0, epoch: 0 })) {
        await tally.add(indices, () => ({
          probs: runTail(prefix, gather(dataset, indices), false),
          labels: tf.tensor1d(Int32Array.from(indices, (i) => dataset.items[i]!.label), 'int32'),
        }));
      }
      return tally.result();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// AdaBN's recalibration, once per process

const recalibrations = new Map<string, Array<[string, ChannelMoments]>>();

/**
 * recalibrateBatchNorm(model, the dataset's batches) with its result remembered: the statistics it
 * writes depend only on the layers that feed some BN input (their config and weights), on the
 * images (files, their size and mtime, rendering) and on the batch size (per-batch moments are
 * float32), all hashed into the key; a later call with the same key writes the remembered
 * statistics, layer by layer, instead of walking the data again. Returns whether it was reused.
 */
export async function recalibrateOnce(model: tf.LayersModel, dataset: ImageDataset, batchSize: number, env: NodeJS.ProcessEnv = process.env): Promise<{ reused: boolean }> {
  const run = () => recalibrateBatchNorm(model, () => imageTensors(dataset, batchSize));
  if (env.BNLAB_FROZEN_PREFIX === '0') {
    await run();
    return { reused: false };
  }
  let key: string;
  try {
    key = await recalibrationKey(model, dataset, batchSize);
  } catch (error) {
    if (error instanceof UnsupportedGraphError) {
      await run();
      return { reused: false };
    }
    throw error;
  }
  const known = recalibrations.get(key);
  if (known) {
    const byName = new Map(leafBnLayers(model).map((layer) => [layer.name, layer]));
    for (const [name, moments] of known) writeStatistics(byName.get(name)!, moments);
    return { reused: true };
  }
  const written = await run();
  recalibrations.set(key, [...written]);
  return { reused: false };
}

function leafBnLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const graph = new LayerGraph(model);
  return graph.stepsFor(model.outputs, new Set()).filter((s) => isBatchNorm(s.layer)).map((s) => s.layer);
}

/** Same write as population.ts writeMovingStatistics (moving mean and variance of one BN layer). */
function writeStatistics(layer: tf.layers.Layer, moments: ChannelMoments): void {
  const bn = layer as unknown as { movingMean: { write(v: tf.Tensor): void }; movingVariance: { write(v: tf.Tensor): void } };
  tf.tidy(() => {
    bn.movingMean.write(tf.tensor1d(moments.mean));
    bn.movingVariance.write(tf.tensor1d(moments.variance));
  });
}

async function recalibrationKey(model: tf.LayersModel, dataset: ImageDataset, batchSize: number): Promise<string> {
  const graph = new LayerGraph(model);
  const all = graph.stepsFor(model.outputs, new Set());
  const bnInputs = all.filter((s) => isBatchNorm(s.layer)).flatMap((s) => s.inputs);
  const upstream = graph.stepsFor(bnInputs, new Set());
  const bnNames = all.filter((s) => isBatchNorm(s.layer)).map((s) => s.layer.name);
  const hash = crypto.createHash('sha256');
  hash.update(JSON.stringify({ batchSize, imageSize: dataset.imageSize, preprocessing: dataset.preprocessing, augment: dataset.augment, bn: bnNames }));
  for (const step of upstream) {
    hash.update(`${step.layer.getClassName()}\0${step.layer.name}\0${JSON.stringify(step.layer.getConfig())}\0`);
    for (const weight of step.layer.getWeights()) {
      const values = weight.dataSync() as Float32Array;
      hash.update(`${weight.shape.join('x')}:`);
      hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    }
  }
  for (const item of dataset.items) {
    const info = await stat(item.path, { bigint: true }).catch(() => null);
    hash.update(`${item.path}\0${info ? `${info.size}:${info.mtimeNs}` : 'missing'}\0`);
  }
  return hash.digest('hex');
}
