/**
 * Gradient of FusedBatchNorm (tf.batchNorm) without Tile.
 *
 * y = (x − μ) · r · γ + β with r = 1/√(σ² + ε). For per-channel μ, σ², γ, β (rank 1, the
 * BatchNormalization layer's case) and reduction over all other axes R:
 *   ∂x = dy · r·γ                       ∂β = Σ_R dy
 *   ∂μ = −r·γ · Σ_R dy                  ∂γ = r · Σ_R dy·(x − μ)
 *   ∂σ² = −½ r³·γ · Σ_R dy·(x − μ)
 * tfjs-core's own gradient builds ∂x by tiling r to the full input shape, which on the wasm
 * backend took ~40 % of a MobileNet training step; broadcasting gives the same values and per-channel
 * factors are applied after the reductions, so each full-size tensor is touched once or twice.
 * With full-rank μ/σ²/γ (no reduction) the same formulas are applied elementwise.
 */
import * as tf from '@tensorflow/tfjs';

export const FUSED_BATCH_NORM = 'FusedBatchNorm';

export const fusedBatchNormGradConfig: tf.GradConfig = {
  kernelName: FUSED_BATCH_NORM,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const upstream = Array.isArray(dy) ? dy[0] : dy;
    const { varianceEpsilon } = attrs as unknown as { varianceEpsilon: number };
    const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const perChannel = mean.rank === 1;
    const axes = perChannel ? tf.backend_util.getReductionAxes(mean.shape, x.shape) : [];
    // Factoring γ out of a reduction is only valid when γ is constant along the reduced axes.
    const scaleIsPerChannel = scale == null || scale.rank <= 1;
    const gamma = scale ?? tf.scalar(1);
    const reduce = (t: tf.Tensor) => (perChannel ? tf.sum(t, axes) : t);
    const rsqrtVariance = () => tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
    const dyTimesCentered = () => reduce(tf.mul(upstream, tf.sub(x, mean)));

    return {
      x: () => tf.reshape(tf.mul(upstream, tf.mul(rsqrtVariance(), gamma)), x.shape),
      mean: () => {
        const minusR = tf.neg(rsqrtVariance());
        const d = perChannel && scaleIsPerChannel
          ? tf.mul(tf.mul(minusR, gamma), reduce(upstream))
          : reduce(tf.mul(minusR, tf.mul(upstream, gamma)));
        return tf.reshape(d, mean.shape);
      },
      variance: () => {
        const r = rsqrtVariance();
        const minusHalfRCube = tf.mul(tf.mul(tf.mul(r, r), r), tf.scalar(-0.5));
        const d = perChannel && scaleIsPerChannel
          ? tf.mul(tf.mul(minusHalfRCube, gamma), dyTimesCentered())
          : reduce(tf.mul(tf.mul(minusHalfRCube, tf.sub(x, mean)), tf.mul(upstream, gamma)));
        return tf.reshape(d, mean.shape);
      },
      scale: () => tf.reshape(tf.mul(rsqrtVariance(), dyTimesCentered()), mean.shape),
      offset: () => tf.reshape(reduce(upstream), mean.shape),
    };
  },
};
