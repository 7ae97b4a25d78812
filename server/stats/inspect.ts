/**
 * `inspect`: before any training, how far is the user's data from what the pretrained backbone's
 * BatchNorm layers expect?
 *
 * The data is passed once through the model as it is (inference mode, pretrained statistics,
 * nothing written: population.ts `measureBatchNormInputs`). For every BN layer, the population
 * mean and biased variance of its input over the data play the part of the "current" state in
 * drift.ts and the pretrained running statistics the reference:
 *   meanShift   = mean_c |mu_data - mu_pre| / sqrt(var_pre + eps)
 *   logVarRatio = mean_c |log((var_data + eps) / (var_pre + eps))|
 *   symmetricKl = mean_c symmetric KL(N(mu_data, var_data + eps), N(mu_pre, var_pre + eps))
 * Layers are ranked by symmetricKl (it combines the mean and the variance mismatch), largest first.
 *
 * Lint: 'bias-before-bn' (stats/lint.ts), 'tiny-batch' (batch < 8 with a policy that runs BN in
 * training mode), plus any findings the caller passes in.
 *
 * Recommendation (a deliberately simple rule; thresholds are options):
 *   shifted := median over layers of meanShift > 0.2  OR  median logVarRatio > 0.4
 *   not shifted                                     -> 'freeze-all'
 *   shifted, >= 500 training images and batch >= 8  -> 'train-bn' (and --precise-bn at the end)
 *   shifted otherwise                               -> 'adabn'
 * 'full' is never recommended from statistics alone: with a few hundred images it overfits and its
 * BN layers see the tiny-batch problem too.
 *
 * Where the thresholds come from: `tools/measure-domain-shift.ts 400` (every train
 * image of each shared set, centre crop 224, [-1, 1], pretrained statistics, wasm backend):
 *                         MobileNet v1 α0.25             Teachable MobileNetV2 α0.35
 *                         median meanShift / logVarRatio  median meanShift / logVarRatio
 *   ants-bees (ImageNet)  0.097 / 0.129                   0.102 / 0.140
 *   digits (MNIST)        0.380 / 0.847                   0.453 / 0.946
 *   fashion-mnist-mini    0.273 / 0.703                   0.368 / 0.749
 * (median symmetricKl: ants-bees 0.023 / 0.019 against 0.72-1.03 for the other two.) 0.2 and 0.4
 * sit between the ImageNet-like set and the shifted ones on each measure, for both backbones; with
 * 64 images per set the medians move by less than 0.02. The 500-image and batch-8 limits are
 * judgement (the BN EMA needs many steps of reasonably sized batches to settle), not measurements.
 */
import * as tf from '@tensorflow/tfjs';
import type { InspectLayer, InspectReport, LintFinding } from '../schema/inspect-report.ts';
import type { NamedPolicy } from '../schema/policy-names.ts';
import { batchNormLayers } from '../model/layers.ts';
import { findBiasBeforeBn } from './lint.ts';
import { bnLayerConfig } from '../model/batch-norm.ts';
import { bnDrift, readBnState } from './drift.ts';
import { measureBatchNormInputs, type BatchSource } from './population.ts';

export interface RecommendationThresholds {
  /** median meanShift above which the data counts as shifted */
  medianMeanShift: number;
  /** median logVarRatio above which the data counts as shifted */
  medianLogVarRatio: number;
  /** training images needed before training-mode BN is recommended */
  minImagesToTrainBn: number;
  /** batch size below which BN in training mode is noisy (also the 'tiny-batch' lint) */
  minBatchToTrainBn: number;
}

export const DEFAULT_THRESHOLDS: RecommendationThresholds = {
  medianMeanShift: 0.2,
  medianLogVarRatio: 0.4,
  minImagesToTrainBn: 500,
  minBatchToTrainBn: 8,
};

export interface InspectOptions {
  /** training batch size the run will use; enables the 'tiny-batch' lint */
  batchSize?: number;
  /** whether the planned policy runs BN in training mode; defaults to "does the recommended one" (only train-bn does) */
  policyTrainsBn?: boolean;
  /** training images the run will have; defaults to the images inspected */
  trainCount?: number;
  /**
   * findings computed elsewhere, passed through first; 'bias-before-bn' is computed here with
   * stats/lint.ts unless one of these already has that code
   */
  findings?: LintFinding[];
  thresholds?: Partial<RecommendationThresholds>;
  /** how many leading channels of each layer's statistics to include (default 8) */
  previewChannels?: number;
  onBatch?: (batches: number, images: number) => void;
}

/** Measure the data's BN-input statistics against the pretrained ones; the model is not modified. */
export async function inspectBatchNorm(
  model: tf.LayersModel,
  batches: BatchSource,
  opts: InspectOptions = {},
): Promise<InspectReport> {
  const thresholds = { ...DEFAULT_THRESHOLDS, ...opts.thresholds };
  const preview = opts.previewChannels ?? 8;
  const measured = await measureBatchNormInputs(model, batches, { onBatch: opts.onBatch });

  const layers: InspectLayer[] = batchNormLayers(model).map((layer) => {
    const data = measured.layers.get(layer.name);
    if (!data) throw new Error(`no statistics were measured for layer ${layer.name}`);
    const pretrained = readBnState(layer);
    const drift = bnDrift(
      { mean: data.mean, variance: data.variance, gamma: null, beta: null },
      { mean: pretrained.mean, variance: pretrained.variance, gamma: null, beta: null },
      bnLayerConfig(layer).epsilon,
      undefined,
      layer.name,
    );
    const head = (values: Float32Array) => Array.from(values.subarray(0, preview));
    return {
      layer: layer.name,
      channels: data.mean.length,
      count: data.count,
      meanShift: drift.meanShift,
      logVarRatio: drift.logVarRatio,
      symmetricKl: drift.symmetricKl,
      dataMean: head(data.mean),
      dataVariance: head(data.variance),
      runningMean: head(pretrained.mean),
      runningVariance: head(pretrained.variance),
    };
  });

  const summary = {
    medianMeanShift: median(layers.map((l) => l.meanShift)),
    medianLogVarRatio: median(layers.map((l) => l.logVarRatio)),
    medianSymmetricKl: median(layers.map((l) => l.symmetricKl)),
  };
  const ranking = [...layers].sort((a, b) => b.symmetricKl - a.symmetricKl).map((l) => l.layer);
  const trainCount = opts.trainCount ?? measured.images;
  const recommendation = recommendPolicy(summary, trainCount, opts.batchSize, thresholds, ranking);

  const lint = [...(opts.findings ?? [])];
  if (!lint.some((f) => f.code === 'bias-before-bn')) {
    const biased = findBiasBeforeBn(model);
    if (biased.length > 0) {
      lint.push({
        code: 'bias-before-bn',
        message:
          `${biased.length} conv/dense layer(s) with a bias feed straight into BN, which subtracts the per-channel mean ` +
          `and so cancels the bias (beta already provides the shift): ${biased.map((b) => `${b.layer} -> ${b.bn}`).join(', ')}`,
        layers: biased.map((b) => b.layer),
      });
    }
  }
  const trainsBn = opts.policyTrainsBn ?? recommendation.policy === 'train-bn';
  if (opts.batchSize !== undefined && opts.batchSize < thresholds.minBatchToTrainBn && trainsBn) {
    lint.push({
      code: 'tiny-batch',
      message:
        `batch size ${opts.batchSize} with BN layers in training mode: batch statistics over so few images are noisy ` +
        `and differ from the running statistics used at inference (use >= ${thresholds.minBatchToTrainBn}, ` +
        'or a policy that keeps BN in inference mode: freeze-all, adabn)',
    });
  }
  return { images: measured.images, layers, ranking, summary, lint, recommendation };
}

/** The recommendation rule from the module comment. */
export function recommendPolicy(
  summary: { medianMeanShift: number; medianLogVarRatio: number },
  trainCount: number,
  batchSize: number | undefined,
  thresholds: RecommendationThresholds = DEFAULT_THRESHOLDS,
  ranking: string[] = [],
): { policy: NamedPolicy; reason: string } {
  const measuredText =
    `median mean shift ${summary.medianMeanShift.toFixed(2)} (threshold ${thresholds.medianMeanShift}), ` +
    `median |log variance ratio| ${summary.medianLogVarRatio.toFixed(2)} (threshold ${thresholds.medianLogVarRatio})`;
  const shifted =
    summary.medianMeanShift > thresholds.medianMeanShift || summary.medianLogVarRatio > thresholds.medianLogVarRatio;
  if (!shifted) {
    return {
      policy: 'freeze-all',
      reason: `the data looks like the pretraining data to the BN layers (${measuredText}); keep the pretrained statistics and train the head`,
    };
  }
  const worst = ranking.length ? `; most shifted: ${ranking.slice(0, 3).join(', ')}` : '';
  const enoughData = trainCount >= thresholds.minImagesToTrainBn;
  const bigEnoughBatch = batchSize === undefined || batchSize >= thresholds.minBatchToTrainBn;
  if (enoughData && bigEnoughBatch) {
    return {
      policy: 'train-bn',
      reason:
        `the pretrained BN statistics do not fit this data (${measuredText}${worst}) and there are ${trainCount} training images: ` +
        'let BN statistics and gamma/beta adapt (train-bn), and add --precise-bn so the final statistics are exact rather than a lagging EMA',
    };
  }
  const why = !enoughData
    ? `only ${trainCount} training images (< ${thresholds.minImagesToTrainBn}) to adapt BN by training`
    : `batch size ${batchSize} (< ${thresholds.minBatchToTrainBn}) is too small for training-mode BN`;
  return {
    policy: 'adabn',
    reason:
      `the pretrained BN statistics do not fit this data (${measuredText}${worst}); ${why}, ` +
      'so recompute them exactly on the training data (adabn) and train the head with BN frozen',
  };
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
