/** Test references for population statistics, written with plain tf ops, independent of population.ts. */
import * as tf from '@tensorflow/tfjs';

/** Per-channel mean and biased variance over all axes but the last (the whole tensor as one batch). */
export function directMoments(x: tf.Tensor): { mean: Float32Array; variance: Float32Array } {
  return tf.tidy(() => {
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const mean = x.mean(axes);
    const variance = x.sub(mean).square().mean(axes);
    return { mean: mean.dataSync() as Float32Array, variance: variance.dataSync() as Float32Array };
  });
}

/** Elementwise |actual - expected| <= abs + rel * |expected|, naming the first channel that is not. */
export function expectClose(actual: Float32Array, expected: Float32Array, rel = 1e-4, abs = 1e-6): void {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const tolerance = abs + rel * Math.abs(expected[i]);
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance)) {
      throw new Error(`channel ${i}: ${actual[i]} vs ${expected[i]} (tolerance ${tolerance})`);
    }
  }
}
