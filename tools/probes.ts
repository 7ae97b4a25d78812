/**
 * Two cheap read-outs of how useful frozen features are for a labelled task, used by check-shift.ts:
 * - nearest centroid: predict the class whose mean training feature is closest (Euclidean);
 * - linear probe: multinomial logistic regression (softmax + cross-entropy), zero-initialised, full-batch
 *   Adam, on the raw features, i.e. what a new Dense head on the backbone would see.
 * Both are deterministic.
 */
import * as tf from '@tensorflow/tfjs';

export interface LabelledFeatures {
  features: tf.Tensor2D;
  labels: number[];
}

function accuracyOf(predicted: ArrayLike<number>, labels: number[]): number {
  let correct = 0;
  labels.forEach((label, i) => {
    if (predicted[i] === label) correct++;
  });
  return correct / labels.length;
}

export function nearestCentroidAccuracy(train: LabelledFeatures, val: LabelledFeatures, numClasses: number): number {
  const predicted = tf.tidy(() => {
    const oneHot = tf.oneHot(tf.tensor1d(train.labels, 'int32'), numClasses).toFloat();
    const centroids = oneHot.transpose().matMul(train.features).div(oneHot.sum(0).expandDims(1)); // [k, d]
    // |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 is the same for every class.
    const scores = val.features.matMul(centroids.transpose()).mul(2).sub(centroids.square().sum(1).expandDims(0));
    return scores.argMax(1).dataSync();
  });
  return accuracyOf(predicted, val.labels);
}

export function linearProbeAccuracy(
  train: LabelledFeatures,
  val: LabelledFeatures,
  numClasses: number,
  { steps = 300, learningRate = 0.01 }: { steps?: number; learningRate?: number } = {},
): { train: number; val: number } {
  const dims = train.features.shape[1];
  const weights = tf.variable(tf.zeros([dims, numClasses]));
  const bias = tf.variable(tf.zeros([numClasses]));
  const targets = tf.oneHot(tf.tensor1d(train.labels, 'int32'), numClasses).toFloat();
  const optimizer = tf.train.adam(learningRate);
  for (let step = 0; step < steps; step++) {
    optimizer.minimize(() => tf.losses.softmaxCrossEntropy(targets, train.features.matMul(weights).add(bias)) as tf.Scalar);
  }
  const predict = (x: tf.Tensor2D) => tf.tidy(() => x.matMul(weights).add(bias).argMax(1).dataSync());
  const result = { train: accuracyOf(predict(train.features), train.labels), val: accuracyOf(predict(val.features), val.labels) };
  optimizer.dispose();
  tf.dispose([weights, bias, targets]);
  return result;
}
