/**
 * Training-mode batch normalisation over the last axis as one differentiable op.
 *
 * For x with C channels on its last axis and M = (number of elements)/C values per channel:
 *   mean_c = Σ x / M,  var_c = Σ (x − mean_c)² / M  (biased, as tfjs-layers and Keras use),
 *   y = (x − mean)·r·γ + β  with r = 1/√(var + ε).
 * Backward (through the batch statistics), with x̂ = (x − mean)·r:
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ·r/M · (M·dy − Σ dy − x̂·Σ dy·x̂).
 * tfjs-layers builds the same thing from moments + batchNorm, whose tape keeps several full-size
 * intermediates per layer and whose backward runs a dozen full-size elementwise ops. Here the tape
 * keeps only x (and per-channel mean, variance, γ), and on wasm the forward is two reduction
 * passes + the one-pass FusedBatchNorm kernel, the backward one reduction pass + one output pass
 * (kernels/batch-norm-training-kernels.ts). Other backends use the same formulas with tf ops.
 * The batch mean and variance are returned (not differentiated) for the moving-average update.
 */
import * as tf from '@tensorflow/tfjs';
import { BATCH_MOMENTS, BATCH_NORM_TRAIN_GRAD, batchNormTrainingKernelsUsable } from '../kernels/batch-norm-training-kernels.ts';

export interface BatchNormTrainingResult {
  y: tf.Tensor;
  /** per-channel batch mean [C]; the caller owns it */
  mean: tf.Tensor1D;
  /** per-channel biased batch variance [C]; the caller owns it */
  variance: tf.Tensor1D;
}

function leadingAxes(x: tf.Tensor): number[] {
  return x.shape.slice(0, -1).map((_, i) => i);
}

function moments(x: tf.Tensor): [tf.Tensor1D, tf.Tensor1D] {
  if (batchNormTrainingKernelsUsable()) {
    return tf.engine().runKernel(BATCH_MOMENTS, { x }) as unknown as [tf.Tensor1D, tf.Tensor1D];
  }
  const axes = leadingAxes(x);
  const mean = tf.mean(x, axes) as tf.Tensor1D;
  return [mean, tf.mean(tf.square(tf.sub(x, mean)), axes) as tf.Tensor1D];
}

function backward(x: tf.Tensor, dy: tf.Tensor, mean: tf.Tensor1D, variance: tf.Tensor1D, gamma: tf.Tensor1D, epsilon: number): tf.Tensor[] {
  if (batchNormTrainingKernelsUsable()) {
    return tf.engine().runKernel(BATCH_NORM_TRAIN_GRAD, { x, dy, mean, variance, scale: gamma }, { varianceEpsilon: epsilon } as never) as unknown as tf.Tensor[];
  }
  const axes = leadingAxes(x);
  const count = x.size / x.shape[x.shape.length - 1];
  const r = tf.rsqrt(tf.add(variance, epsilon));
  const centred = tf.sub(x, mean);
  const sumDy = tf.sum(dy, axes);
  const sumDyCentred = tf.sum(tf.mul(dy, centred), axes);
  const a = tf.mul(gamma, r);
  // dx = a·dy − a·ΣdY/M − a·r²·(x − mean)·Σ dy(x − mean)/M
  const kX = tf.div(tf.mul(tf.neg(tf.mul(a, tf.square(r))), sumDyCentred), count);
  const k1 = tf.div(tf.mul(tf.neg(a), sumDy), count);
  const dx = tf.add(tf.add(tf.mul(dy, a), tf.mul(centred, kX)), k1);
  return [dx, tf.mul(r, sumDyCentred), sumDy];
}

/**
 * y = batch-normalised x (statistics over all axes but the last), differentiable w.r.t. x, γ, β;
 * also the batch mean and biased variance, kept (caller disposes). γ, β: shape [C].
 */
export function batchNormTraining(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): BatchNormTrainingResult {
  if (x.rank < 2) throw new Error(`batchNormTraining: input of rank ≥ 2 expected, got [${x.shape}]`);
  let stats: [tf.Tensor1D, tf.Tensor1D] | null = null;
  const op = tf.customGrad(((input: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, save: tf.GradSaveFunc) => {
    const [mean, variance] = moments(input);
    stats = [tf.keep(mean), tf.keep(variance)];
    const y = tf.batchNorm(input, mean, variance, offset as tf.Tensor1D, scale as tf.Tensor1D, epsilon);
    save([input, mean, variance, scale]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, m, v, g] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        return backward(xs, dy as tf.Tensor, m, v, g, epsilon);
      },
    };
  }) as never) as (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;
  const y = op(x, gamma, beta);
  const [mean, variance] = stats!;
  return { y, mean, variance };
}

/** Switch for the BN wrapper (server/train/bn-control.ts): BNLAB_FUSED_BN=0 keeps tfjs's own path. */
export const batchNormTrainingOptions = { enabled: process.env.BNLAB_FUSED_BN !== '0' };
