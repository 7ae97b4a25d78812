/**
 * BatchNorm population statistics for the demo's own scripts (training the backbone, checking the
 * domain shift). Demo-local on purpose: the engine's `adabn`/`recalibrate` (issue 3) is a teammate's;
 * this file only has to be right for plain tfjs functional models such as the demo backbone.
 *
 * Definitions, per BN layer and channel c, over every position (n, h, w) of the layer's input x:
 *   mu_c      = mean(x[.., c])                     (population mean)
 *   var_c     = mean((x[.., c] - mu_c)^2)          (biased population variance, as BN uses)
 *   shift     = mean_c |mu_c - mu0_c| / sqrt(var0_c + eps)     (normalised mean shift vs reference)
 *   logVarRatio = mean_c |log((var_c + eps) / (var0_c + eps))|
 * Batches are merged exactly with Chan et al.'s parallel update, in float64.
 */
import * as tf from '@tensorflow/tfjs';

export interface ChannelStatistics {
  mean: Float64Array;
  variance: Float64Array;
  count: number;
}

export interface BnLayerStatistics extends ChannelStatistics {
  layer: string;
}

function isBatchNorm(layer: tf.layers.Layer): boolean {
  return layer.getClassName() === 'BatchNormalization';
}

export function batchNormLayersOf(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.filter(isBatchNorm);
}

/** The symbolic tensor a BN layer normalises (demo models: one inbound node per layer). */
function bnInput(layer: tf.layers.Layer): tf.SymbolicTensor {
  const input = layer.input;
  if (Array.isArray(input)) throw new Error(`BN layer ${layer.name} has several inputs`);
  return input;
}

/** Merge per-batch moments into running totals (Chan et al.). */
function mergeMoments(total: ChannelStatistics, batchMean: Float32Array, batchVariance: Float32Array, batchCount: number): void {
  const n = total.count + batchCount;
  for (let c = 0; c < total.mean.length; c++) {
    const delta = batchMean[c] - total.mean[c];
    const m2 = total.variance[c] * total.count + batchVariance[c] * batchCount + (delta * delta * total.count * batchCount) / n;
    total.mean[c] += (delta * batchCount) / n;
    total.variance[c] = m2 / n;
  }
  total.count = n;
}

/** Per-channel population moments of each output of `probe` over `images`, in batches. */
async function populationMoments(probe: tf.LayersModel, images: tf.Tensor4D, batchSize: number): Promise<ChannelStatistics[]> {
  const outputs = probe.outputs;
  const totals = outputs.map((o) => {
    const channels = o.shape[o.shape.length - 1] as number;
    return { mean: new Float64Array(channels), variance: new Float64Array(channels), count: 0 };
  });
  for (let start = 0; start < images.shape[0]; start += batchSize) {
    const size = Math.min(batchSize, images.shape[0] - start);
    const moments = tf.tidy(() => {
      const batch = images.slice([start, 0, 0, 0], [size, -1, -1, -1]);
      const result = probe.predict(batch);
      const activations = Array.isArray(result) ? result : [result];
      return activations.map((a) => {
        const axes = a.shape.slice(0, -1).map((_, i) => i);
        const { mean, variance } = tf.moments(a, axes);
        return { mean, variance, count: a.size / (a.shape[a.shape.length - 1] as number) };
      });
    });
    for (let i = 0; i < moments.length; i++) {
      const { mean, variance, count } = moments[i];
      mergeMoments(totals[i], (await mean.data()) as Float32Array, (await variance.data()) as Float32Array, count);
      mean.dispose();
      variance.dispose();
    }
  }
  return totals;
}

/**
 * Statistics of every BN layer's input under the model as it is (nothing changes): what a frozen
 * backbone's BN layers see on this data. `images` are already preprocessed.
 */
export async function batchNormInputStatistics(model: tf.LayersModel, images: tf.Tensor4D, batchSize = 32): Promise<BnLayerStatistics[]> {
  const layers = batchNormLayersOf(model);
  const probe = tf.model({ inputs: model.inputs, outputs: layers.map(bnInput) });
  const stats = await populationMoments(probe, images, batchSize);
  return layers.map((layer, i) => ({ layer: layer.name, ...stats[i] }));
}

/** Running statistics stored in a BN layer (moving mean / moving variance), plus its epsilon. */
export function storedBatchNormStatistics(layer: tf.layers.Layer): { mean: Float32Array; variance: Float32Array; epsilon: number } {
  const byRole = (suffix: string) => {
    const index = layer.weights.findIndex((w) => weightRole(w) === suffix);
    if (index < 0) throw new Error(`BN layer ${layer.name} has no ${suffix} weight`);
    return layer.getWeights()[index].dataSync() as Float32Array;
  };
  const epsilon = (layer.getConfig() as { epsilon?: number }).epsilon ?? 1e-3;
  return { mean: byRole('moving_mean'), variance: byRole('moving_variance'), epsilon };
}

/** 'moving_mean' | 'moving_variance' | ... of a BN weight; tfjs uniquifies `name` (…/moving_mean_1), not `originalName`. */
function weightRole(weight: tf.LayerVariable): string {
  return weight.originalName.split('/').pop() ?? weight.originalName;
}

function setStoredStatistics(layer: tf.layers.Layer, mean: Float64Array, variance: Float64Array): void {
  const created: tf.Tensor[] = [];
  const values = layer.getWeights().map((current, i) => {
    const role = weightRole(layer.weights[i]);
    if (role !== 'moving_mean' && role !== 'moving_variance') return current;
    const replacement = tf.tensor1d(Float32Array.from(role === 'moving_mean' ? mean : variance));
    created.push(replacement);
    return replacement;
  });
  layer.setWeights(values);
  created.forEach((t) => t.dispose()); // setWeights copied them; `current` values are the live variables
}

/**
 * PreciseBN / AdaBN: replace every BN layer's running statistics by the population mean and biased
 * variance of its input over `images`, layer by layer in model order, each computed with the
 * upstream BN layers already replaced. Returns the statistics that were written.
 */
export async function recomputeBatchNormStatistics(model: tf.LayersModel, images: tf.Tensor4D, batchSize = 32): Promise<BnLayerStatistics[]> {
  const written: BnLayerStatistics[] = [];
  for (const layer of batchNormLayersOf(model)) {
    const probe = tf.model({ inputs: model.inputs, outputs: bnInput(layer) });
    const [stats] = await populationMoments(probe, images, batchSize);
    setStoredStatistics(layer, stats.mean, stats.variance);
    written.push({ layer: layer.name, ...stats });
  }
  return written;
}

/** mean_c |mu_c - mu0_c| / sqrt(var0_c + eps) */
export function normalisedMeanShift(mean: ArrayLike<number>, referenceMean: ArrayLike<number>, referenceVariance: ArrayLike<number>, epsilon: number): number {
  let total = 0;
  for (let c = 0; c < mean.length; c++) total += Math.abs(mean[c] - referenceMean[c]) / Math.sqrt(referenceVariance[c] + epsilon);
  return total / mean.length;
}

/** mean_c |log((var_c + eps) / (var0_c + eps))| */
export function meanAbsLogVarianceRatio(variance: ArrayLike<number>, referenceVariance: ArrayLike<number>, epsilon: number): number {
  let total = 0;
  for (let c = 0; c < variance.length; c++) total += Math.abs(Math.log((variance[c] + epsilon) / (referenceVariance[c] + epsilon)));
  return total / variance.length;
}
