/**
 * `adapt`: test-time BatchNorm adaptation of a trained checkpoint to unlabelled target images (the
 * images a deployed model now sees), written as a new checkpoint in the same format (loadable with
 * plain `tf.loadLayersModel`, and by `predict` / `evaluate`). No labels are read.
 *
 * Methods:
 *   stats  every BN layer's statistics := the exact population mean and biased variance of the
 *          target images (stats/target-statistics.ts; with --prior N mixed with the checkpoint's
 *          statistics by weight N/(N+n), Schneider et al. 2020, stats/prior-mix.ts)
 *   tent   TENT (Wang et al. 2021, train/tent.ts): `steps` Adam steps on BN gamma/beta only,
 *          minimising the mean prediction entropy of seeded random target batches with BN on batch
 *          statistics; then the statistics step above (so the checkpoint normalises with the
 *          target population statistics, which TENT's batch statistics estimate)
 *   tent --episodic
 *          the paper's episodic variant: each batch is adapted from the source model (--steps
 *          steps on that batch, default 1) and predicted with BN on batch statistics; no single
 *          adapted model exists, so it writes predictions.json (and accuracy, when the images sit
 *          in folders named after the checkpoint's classes) instead of a checkpoint
 * Defaults: tent steps = one pass over the target images, batch size 32, Adam lr 1e-3, seed 0.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { CheckpointMeta } from '../schema/checkpoint.ts';
import type { BnLayerDrift } from '../schema/events.ts';
import { ImageDataset } from '../data/dataset.ts';
import { listImageFiles } from '../data/list-images.ts';
import type { SkippedFile } from '../data/scan.ts';
import { bnEpsilons, driftAll, snapshotBn } from '../stats/drift.ts';
import { adaptStatistics } from '../stats/target-statistics.ts';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint.ts';
import { predictionEntropy } from '../train/entropy.ts';
import { imageTensors, toImageTensor } from '../train/experiment.ts';
import { onePassSteps, TENT_DEFAULTS, tentAdapt, tentBatches, tentEpisodic } from '../train/tent.ts';
import { writeFileAtomic } from '../runs/atomic-write.ts';
import { requireEmptyOrMissing } from './output-folder.ts';

export const ADAPT_METHODS = ['stats', 'tent'] as const;
export type AdaptMethod = (typeof ADAPT_METHODS)[number];

export interface AdaptSettings {
  method: AdaptMethod;
  /** Schneider et al.'s pseudo sample size N of the source statistics; null = target only */
  prior: number | null;
  /** tent: optimizer steps (null = one pass over the target images) */
  steps: number | null;
  /** images per batch (tent steps and statistics passes) */
  batchSize: number;
  /** tent: Adam learning rate */
  lr: number;
  /** tent: seed of the batch order */
  seed: number;
  /** tent: reset to the source model before every batch (predictions instead of a checkpoint) */
  episodic: boolean;
}

/** Validate CLI flags (strings from commander) into settings; every error names its flag. */
export function parseAdaptSettings(flags: { method?: string; prior?: string; steps?: string; batchSize?: string; lr?: string; seed?: string; episodic?: boolean }): AdaptSettings {
  const method = flags.method;
  if (!method || !(ADAPT_METHODS as readonly string[]).includes(method)) {
    throw new Error(`--method: ${method ? `unknown method '${method}'` : 'missing'}; choose ${ADAPT_METHODS.join(' or ')}`);
  }
  const number = (flag: string, value: string | undefined, check: (n: number) => boolean, want: string) => {
    if (value === undefined) return null;
    const n = Number(value);
    if (value.trim() === '' || !check(n)) throw new Error(`${flag} must be ${want}, got '${value}'`);
    return n;
  };
  const integer = (n: number) => Number.isInteger(n);
  const batchSize = number('--batch-size', flags.batchSize, (n) => integer(n) && n >= 1, 'a positive integer') ?? TENT_DEFAULTS.batchSize;
  if (method === 'tent' && batchSize < 2) {
    throw new Error(
      `--batch-size ${batchSize}: TENT normalises every BN layer with the statistics of the batch, and with one image those are the image's own ` +
        '(one value per channel after pooling): entropy minimisation would fit noise. Use 2 or more (16–64 is usual).',
    );
  }
  const settings: AdaptSettings = {
    method: method as AdaptMethod,
    prior: number('--prior', flags.prior, (n) => Number.isFinite(n) && n >= 0, 'a number >= 0 (pseudo sample size N of the source statistics)'),
    steps: number('--steps', flags.steps, (n) => integer(n) && n >= 1, 'a positive integer'),
    batchSize,
    lr: number('--lr', flags.lr, (n) => Number.isFinite(n) && n > 0, 'a positive number') ?? TENT_DEFAULTS.lr,
    seed: number('--seed', flags.seed, (n) => integer(n) && n >= 0, 'a non-negative integer') ?? 0,
    episodic: flags.episodic === true,
  };
  if (method === 'stats' && (flags.steps !== undefined || flags.lr !== undefined)) throw new Error('--steps and --lr apply to --method tent only');
  if (settings.episodic && method !== 'tent') throw new Error('--episodic applies to --method tent only');
  return settings;
}

export interface AdaptSummary {
  method: AdaptMethod;
  settings: AdaptSettings;
  /** target images used (n) */
  images: number;
  /** N/(N+n): weight of the source statistics (0 without --prior) */
  sourceWeight: number;
  /** tent: steps taken and the batch entropy before each */
  tentSteps: number;
  tentEntropies: number[];
  /** mean prediction entropy (nats) over the target images, inference mode, before and after */
  entropyBefore: number;
  entropyAfter: number;
  /** per-BN-layer change caused by the adaptation (stats/drift.ts formulas, reference = before) */
  drift: BnLayerDrift[];
}

/** Adapt a loaded model in place to the target images of `dataset` (labels ignored). */
export async function adaptModel(
  model: tf.LayersModel,
  dataset: ImageDataset,
  settings: AdaptSettings,
  progress: { onLayer?: (done: number, total: number, name: string) => void; onStep?: (step: number, entropy: number) => void } = {},
): Promise<AdaptSummary> {
  const before = snapshotBn(model);
  const entropyBefore = await meanEntropy(model, dataset, settings.batchSize);
  let tent = { steps: 0, entropies: [] as number[] };
  if (settings.method === 'tent') {
    const steps = settings.steps ?? onePassSteps(dataset.size, settings.batchSize);
    if (steps < 1) throw new Error(`--data has ${dataset.size} decodable image(s); TENT needs a batch of at least 2`);
    tent = await tentAdapt(model, tentBatches(dataset, settings.batchSize, steps, settings.seed), { lr: settings.lr, onStep: progress.onStep });
  }
  const stats = await adaptStatistics(model, () => imageTensors(dataset, settings.batchSize), { priorN: settings.prior, onLayer: progress.onLayer });
  const entropyAfter = await meanEntropy(model, dataset, settings.batchSize);
  return {
    method: settings.method,
    settings,
    images: stats.images,
    sourceWeight: stats.sourceWeight,
    tentSteps: tent.steps,
    tentEntropies: tent.entropies,
    entropyBefore,
    entropyAfter,
    drift: driftAll(snapshotBn(model), before, bnEpsilons(model)),
  };
}

/** Unlabelled target images of a folder (any layout) as a dataset with the checkpoint's preprocessing. */
export async function targetDataset(data: string, meta: Pick<CheckpointMeta, 'inputSize' | 'preprocessing'>): Promise<ImageDataset> {
  let files: string[];
  try {
    files = await listImageFiles(data);
  } catch (error) {
    throw new Error(`--data: ${(error as Error).message}`);
  }
  return new ImageDataset({ items: files.map((file) => ({ path: file, label: 0 })), imageSize: meta.inputSize, preprocessing: meta.preprocessing, augment: null });
}

export interface AdaptResult extends AdaptSummary {
  checkpoint: string;
  data: string;
  out: string;
  skipped: SkippedFile[];
}

/** The source checkpoint, loaded without its optimizer state, and the output folder, checked: never the source, empty or new. */
async function openSource(opts: { checkpoint: string; out: string }) {
  const out = path.resolve(opts.out);
  if (out === path.resolve(opts.checkpoint)) throw new Error('--out must differ from --checkpoint: the source checkpoint is never overwritten');
  await requireEmptyOrMissing(out);
  const { model, meta, optimizerState } = await loadCheckpoint(opts.checkpoint);
  optimizerState?.forEach((t) => t.tensor.dispose());
  return { out, model, meta };
}

export async function adaptCheckpoint(
  opts: { checkpoint: string; data: string; out: string; settings: AdaptSettings },
  progress: Parameters<typeof adaptModel>[3] = {},
): Promise<AdaptResult> {
  const { out, model, meta } = await openSource(opts);
  try {
    const dataset = await targetDataset(opts.data, meta);
    if (opts.settings.episodic) throw new Error('--episodic writes predictions, not a checkpoint: use episodicTent');
    const summary = await adaptModel(model, dataset, opts.settings, progress);
    const { optimizer: _sourceOptimizer, ...sourceMeta } = meta as CheckpointMeta & { optimizer?: unknown };
    const adaptation = { method: summary.method, settings: summary.settings, source: path.resolve(opts.checkpoint), target: path.resolve(opts.data), images: summary.images };
    const adaptedMeta = { ...sourceMeta, runId: path.basename(out), time: new Date().toISOString(), adaptation } as CheckpointMeta;
    await saveCheckpoint(out, model, null, adaptedMeta);
    const result: AdaptResult = { checkpoint: path.resolve(opts.checkpoint), data: path.resolve(opts.data), out, ...summary, skipped: dataset.skipped };
    await writeFileAtomic(path.join(out, 'adaptation.json'), JSON.stringify(result, null, 2));
    return result;
  } finally {
    model.dispose();
  }
}

export interface EpisodicResult {
  checkpoint: string;
  data: string;
  out: string;
  settings: AdaptSettings;
  images: number;
  /** when every image sits in a folder named after one of the checkpoint's classes; else null */
  accuracy: number | null;
  predictions: { file: string; predicted: string; probability: number; label: string | null }[];
  skipped: SkippedFile[];
}

/** `adapt --method tent --episodic`: per-batch adapted predictions, written to <out>/predictions.json. */
export async function episodicTent(
  opts: { checkpoint: string; data: string; out: string; settings: AdaptSettings },
  progress: { onBatch?: (done: number, images: number) => void } = {},
): Promise<EpisodicResult> {
  const { out, model, meta } = await openSource(opts);
  try {
    const dataset = await targetDataset(opts.data, meta);
    const raw = await tentEpisodic(model, dataset, { batchSize: opts.settings.batchSize, steps: opts.settings.steps ?? 1, lr: opts.settings.lr, seed: opts.settings.seed, onBatch: progress.onBatch });
    const predictions = raw
      .map(({ file, probabilities }) => {
        let best = 0;
        for (let c = 1; c < probabilities.length; c++) if (probabilities[c] > probabilities[best]) best = c;
        const folder = path.basename(path.dirname(file));
        return { file, predicted: meta.classes[best], probability: probabilities[best], label: meta.classes.includes(folder) ? folder : null };
      })
      .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    const labelled = predictions.every((p) => p.label !== null);
    const accuracy = labelled ? predictions.filter((p) => p.label === p.predicted).length / predictions.length : null;
    const result: EpisodicResult = { checkpoint: path.resolve(opts.checkpoint), data: path.resolve(opts.data), out, settings: opts.settings, images: predictions.length, accuracy, predictions, skipped: dataset.skipped };
    await fs.mkdir(out, { recursive: true });
    await writeFileAtomic(path.join(out, 'predictions.json'), JSON.stringify(result, null, 2));
    return result;
  } finally {
    model.dispose();
  }
}

/** Mean prediction entropy over a dataset, inference mode (labels ignored). */
export async function meanEntropy(model: tf.LayersModel, dataset: ImageDataset, batchSize: number): Promise<number> {
  let sum = 0;
  let count = 0;
  for await (const batch of dataset.batches({ batchSize, shuffle: false, seed: 0, epoch: 0 })) {
    const total = tf.tidy(() => predictionEntropy(model.predict(toImageTensor(batch.images, batch.count, dataset.imageSize)) as tf.Tensor2D).sum());
    sum += (await total.data())[0];
    total.dispose();
    count += batch.count;
  }
  if (count === 0) throw new Error(`--data: none of the ${dataset.items.length} images could be decoded${dataset.skipped[0] ? ` (e.g. ${dataset.skipped[0].path}: ${dataset.skipped[0].reason})` : ''}`);
  return sum / count;
}
