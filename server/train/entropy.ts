/**
 * Shannon entropy of a classifier's predicted distribution, H(p) = -sum_c p_c log p_c (nats), per
 * example. TENT (Wang et al., ICLR 2021) minimises its batch mean on unlabelled target data; bnlab
 * also reports it before and after adaptation, since it needs no labels. Probabilities are clipped
 * to [1e-7, 1] inside the log (as the cross-entropy in evaluate.ts clips them), so p = 0 contributes
 * 0 instead of 0 * -Inf = NaN; the gradient passes through p everywhere.
 */
import * as tf from '@tensorflow/tfjs';

export function predictionEntropy(probs: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => probs.mul(probs.clipByValue(1e-7, 1).log()).sum(1).neg() as tf.Tensor1D);
}
