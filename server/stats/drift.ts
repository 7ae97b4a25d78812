/**
 * BatchNorm state and how far it has drifted from a reference (usually the pretrained weights).
 *
 * Every statistic is defined here once. Notation, per channel c of a BN layer with C channels:
 *   mu, var           running (moving) mean and variance now
 *   mu0, var0         the reference running mean and variance
 *   gamma, beta       scale and offset now; gamma0, beta0 the reference
 *   mu_batch          mean of the layer's input over the last batch seen
 *   eps               the layer's epsilon (the same one it adds inside its own normalisation)
 *   mean_c x          (1/C) * sum over channels of x
 *
 *   meanShift    = mean_c |mu - mu0| / sqrt(var0 + eps)
 *                  how many reference standard deviations the mean moved
 *   logVarRatio  = mean_c |log((var + eps) / (var0 + eps))|
 *                  0 when the variances agree, log(2) ≈ 0.69 when one is twice the other
 *   symmetricKl  = mean_c 0.5 * (KL(p || q) + KL(q || p)),  p = N(mu, var + eps), q = N(mu0, var0 + eps)
 *                = mean_c 0.25 * [ s/s0 + s0/s - 2 + (mu - mu0)^2 * (1/s + 1/s0) ],  s = var + eps, s0 = var0 + eps
 *                  (the log terms of the two KLs cancel; in nats)
 *   batchGap     = mean_c |mu_batch - mu| / sqrt(var + eps)   (null when no batch mean is given)
 *                  how far the running mean lags the data the layer sees now
 *   gammaChange  = ||gamma - gamma0||_2 / sqrt(C)   (0 when the layer has no gamma, scale=false)
 *   betaChange   = ||beta - beta0||_2 / sqrt(C)     (0 when the layer has no beta, center=false)
 *
 * eps sits inside every variance so that channels whose variance is ~0 (dead channels exist in
 * real pretrained models: MobileNet v1 conv1_bn has moving_variance 7.9e-7) give finite numbers
 * that match what the layer itself divides by.
 *
 * Variance convention: bnlab follows tfjs/Keras and stores the *biased* variance (divide by n):
 * tfjs' batch statistics are biased and its moving variance is an EMA of them, and PreciseBN
 * recalibration (population.ts) writes the biased population variance. PyTorch's running_var is
 * an EMA of the *unbiased* batch variance, var_unbiased = var_biased * n / (n - 1), n = values per
 * channel in the batch (N*H*W); use the converters below when moving statistics between the two.
 */
import * as tf from '@tensorflow/tfjs';
import type { BnLayerDrift } from '../schema/events.ts';
import type { BnMomentum } from '../schema/recipe.ts';
import { bnLayerConfig, bnVariables } from '../model/batch-norm.ts';
import { batchNormLayers } from '../model/layers.ts';

/** One BN layer's state, copied to host memory. gamma/beta are null when scale/center are off. */
export interface BnState {
  mean: Float32Array;
  variance: Float32Array;
  gamma: Float32Array | null;
  beta: Float32Array | null;
}

/** Drift of `current` from `reference` for one layer; formulas in the module comment. */
export function bnDrift(
  current: BnState,
  reference: BnState,
  eps: number,
  batchMean?: Float32Array,
  layer = '',
): BnLayerDrift {
  const channels = current.mean.length;
  const where = layer ? ` (layer ${layer})` : '';
  if (channels === 0) throw new Error(`bnDrift: empty BN state${where}`);
  const arrays: Array<[string, Float32Array]> = [
    ['variance', current.variance],
    ['reference mean', reference.mean],
    ['reference variance', reference.variance],
  ];
  for (const [name, values] of arrays) {
    if (values.length !== channels) {
      throw new Error(`bnDrift: ${name} has ${values.length} channels, expected ${channels}${where}`);
    }
  }
  if (batchMean && batchMean.length !== channels) {
    throw new Error(`bnDrift: batch mean has ${batchMean.length} channels, expected ${channels}${where}`);
  }
  if (!(eps >= 0)) throw new Error(`bnDrift: eps must be >= 0, got ${eps}`);

  let meanShift = 0;
  let logVarRatio = 0;
  let symmetricKl = 0;
  let batchGap = 0;
  for (let c = 0; c < channels; c++) {
    const s = current.variance[c] + eps;
    const s0 = reference.variance[c] + eps;
    const d = current.mean[c] - reference.mean[c];
    meanShift += Math.abs(d) / Math.sqrt(s0);
    logVarRatio += Math.abs(Math.log(s / s0));
    symmetricKl += 0.25 * (s / s0 + s0 / s - 2 + d * d * (1 / s + 1 / s0));
    if (batchMean) batchGap += Math.abs(batchMean[c] - current.mean[c]) / Math.sqrt(s);
  }
  return {
    layer,
    meanShift: meanShift / channels,
    logVarRatio: logVarRatio / channels,
    symmetricKl: symmetricKl / channels,
    batchGap: batchMean ? batchGap / channels : null,
    gammaChange: rmsChange(current.gamma, reference.gamma, 'gamma', where),
    betaChange: rmsChange(current.beta, reference.beta, 'beta', where),
  };
}

/** ||a - b||_2 / sqrt(C); 0 when the layer has no such parameter. */
function rmsChange(a: Float32Array | null, b: Float32Array | null, name: string, where: string): number {
  if (a === null && b === null) return 0;
  if (a === null || b === null) throw new Error(`bnDrift: ${name} present in only one of the two states${where}`);
  if (a.length !== b.length) throw new Error(`bnDrift: ${name} lengths differ (${a.length} vs ${b.length})${where}`);
  let sum = 0;
  for (let c = 0; c < a.length; c++) sum += (a[c] - b[c]) ** 2;
  return Math.sqrt(sum / a.length);
}

// ---------------------------------------------------------------------------------------------
// Reading BN layers (through model/batch-norm.ts, the one accessor of tfjs BN internals)

/** Copy a tfjs BatchNormalization layer's moving mean/variance and gamma/beta to host memory. */
export function readBnState(layer: tf.layers.Layer): BnState {
  const v = bnVariables(layer);
  const read = (variable: tf.LayerVariable) => new Float32Array(variable.read().dataSync());
  return {
    mean: read(v.movingMean),
    variance: read(v.movingVariance),
    gamma: v.gamma ? read(v.gamma) : null,
    beta: v.beta ? read(v.beta) : null,
  };
}

/** BN state of every BN layer of a model (nested containers included), keyed by layer name. */
export function snapshotBn(model: tf.LayersModel): Map<string, BnState> {
  const out = new Map<string, BnState>();
  for (const layer of batchNormLayers(model)) {
    if (out.has(layer.name)) throw new Error(`two BatchNormalization layers are named ${layer.name}`);
    out.set(layer.name, readBnState(layer));
  }
  return out;
}

/** Drift of every layer in `current` against `reference` (same model, two snapshots). */
export function driftAll(
  current: Map<string, BnState>,
  reference: Map<string, BnState>,
  epsilons: Map<string, number>,
  batchMeans?: Map<string, Float32Array>,
): BnLayerDrift[] {
  const out: BnLayerDrift[] = [];
  for (const [name, state] of current) {
    const ref = reference.get(name);
    if (!ref) throw new Error(`no reference BN state for layer ${name}`);
    const eps = epsilons.get(name);
    if (eps === undefined) throw new Error(`no epsilon for layer ${name}`);
    out.push(bnDrift(state, ref, eps, batchMeans?.get(name), name));
  }
  return out;
}

/** Each BN layer's epsilon, keyed by layer name (what driftAll needs). */
export function bnEpsilons(model: tf.LayersModel): Map<string, number> {
  return new Map(batchNormLayers(model).map((layer) => [layer.name, bnLayerConfig(layer).epsilon]));
}

// ---------------------------------------------------------------------------------------------
// Momentum and variance conventions

/**
 * Keras/tfjs momentum is the weight of the OLD running value:
 *   running = running * momentumKeras + batch * (1 - momentumKeras)
 * PyTorch's momentum is the weight of the NEW batch value:
 *   running = running * (1 - momentumPytorch) + batch * momentumPytorch
 * so momentumKeras = 1 - momentumPytorch (PyTorch 0.1 == Keras 0.9; Keras' default 0.99 == PyTorch 0.01).
 * After k steps on constant data a fraction momentumKeras^k of the old value survives.
 */
export function kerasMomentum(m: BnMomentum): number {
  const value = 'keras' in m ? m.keras : 1 - m.pytorch;
  if (!(value > 0 && value < 1)) throw new Error(`BN momentum must be in (0, 1), got ${JSON.stringify(m)}`);
  return value;
}

/** The PyTorch form of the same momentum (weight of the new value). */
export function pytorchMomentum(m: BnMomentum): number {
  return 1 - kerasMomentum(m);
}

/**
 * PyTorch-stored (unbiased, divide by n - 1) variance -> the biased (divide by n) variance bnlab and
 * tfjs use, for n values per channel: var_biased = var_unbiased * (n - 1) / n.
 * For a running variance, n is the per-channel count of the batches that fed the EMA (N*H*W);
 * with conv feature maps n is in the thousands and the factor is ~1, with BN after a dense layer
 * and small batches it is not (batch 8: 0.875).
 */
export function biasedVariance(unbiased: Float32Array, n: number): Float32Array {
  if (!(n > 1)) throw new Error(`biasedVariance needs n > 1 values per channel, got ${n}`);
  return unbiased.map((v) => (v * (n - 1)) / n);
}

/** The inverse: var_unbiased = var_biased * n / (n - 1). */
export function unbiasedVariance(biased: Float32Array, n: number): Float32Array {
  if (!(n > 1)) throw new Error(`unbiasedVariance needs n > 1 values per channel, got ${n}`);
  return biased.map((v) => (v * n) / (n - 1));
}
