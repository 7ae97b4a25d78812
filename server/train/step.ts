/** One optimizer step of bnlab training, shared by the loop, the bench and the step profiler. */
import * as tf from '@tensorflow/tfjs';
import { crossEntropy } from './evaluate.ts';
import { toImageTensor } from './experiment.ts';

/**
 * One optimizer step. Returns [loss, correct, sum of outputs] so the caller reads all with a single
 * async download; the output sum is NaN/Inf exactly when some output is. BN layers behave as their
 * mode says (bn-control.ts).
 */
export function trainStep(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  images: Float32Array,
  labels: Int32Array,
  count: number,
  size: number,
  numClasses: number,
): tf.Tensor1D {
  return tf.tidy(() => {
    const x = toImageTensor(images, count, size);
    return minimizeCrossEntropy(optimizer, variables, () => model.apply(x, { training: true }) as tf.Tensor2D, labels, count, numClasses);
  });
}

/**
 * One optimizer step on the mean cross-entropy of `forward()`'s class probabilities, returning
 * [loss, correct, sum of outputs] (see trainStep). The frozen-prefix path (frozen-prefix.ts) calls
 * it with a forward pass that starts from cached prefix outputs. Call inside tf.tidy.
 */
export function minimizeCrossEntropy(
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  forward: () => tf.Tensor2D,
  labels: Int32Array,
  count: number,
  numClasses: number,
): tf.Tensor1D {
  const y = tf.tensor1d(labels.subarray(0, count), 'int32');
  let hits: tf.Scalar | null = null;
  let outputSum: tf.Scalar | null = null;
  const loss = optimizer.minimize(
    () => {
      const probs = forward();
      hits = tf.keep(probs.argMax(1).equal(y).sum().cast('float32') as tf.Scalar);
      outputSum = tf.keep(probs.sum() as tf.Scalar);
      return crossEntropy(probs, y, numClasses).mean() as tf.Scalar;
    },
    true,
    variables,
  )!;
  const out = tf.stack([loss, hits!, outputSum!]) as tf.Tensor1D;
  (hits as tf.Scalar | null)?.dispose();
  (outputSum as tf.Scalar | null)?.dispose();
  return out;
}
