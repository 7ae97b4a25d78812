import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { registerWasmGradientKernels } from '../backend.ts';
import { maxRelativeError, seededValues } from '../../../test/support/gradient-check.ts';

/** withScale false is not testable: tfjs-core itself fails to save the missing `scale` input for backprop. */
interface BnCase {
  xShape: number[];
  paramShape: number[];
  withScale: boolean;
}

/** Gradients of Σ batchNorm(x, μ, σ², β, γ) ⊙ r w.r.t. all five inputs, on the current backend. */
async function bnGradients(c: BnCase): Promise<Float32Array[]> {
  const make = (shape: number[], seed: number, positive = false) => {
    const v = seededValues(tf.util.sizeFromShape(shape), seed);
    return tf.tensor(positive ? v.map((a) => 0.5 + Math.abs(a)) : v, shape);
  };
  const x = make(c.xShape, 1);
  const mean = make(c.paramShape, 2);
  const variance = make(c.paramShape, 3, true);
  const offset = make(c.paramShape, 4);
  const scale = make(c.paramShape, 5);
  const r = make(c.xShape, 6);
  const f = (...t: tf.Tensor[]) =>
    tf.sum(tf.mul(tf.batchNorm(t[0], t[1], t[2], t[3], c.withScale ? t[4] : undefined, 1e-3), r));
  const grads = tf.grads(f)([x, mean, variance, offset, scale].slice(0, c.withScale ? 5 : 4));
  const out = await Promise.all(grads.map((g) => g.data<'float32'>()));
  tf.dispose([...grads, x, mean, variance, offset, scale, r]);
  return out;
}

const cases: BnCase[] = [
  { xShape: [3, 5, 4, 6], paramShape: [6], withScale: true },
  { xShape: [2, 7, 7, 3], paramShape: [3], withScale: true },
  { xShape: [5, 8], paramShape: [8], withScale: true }, // BN after a dense layer
  { xShape: [2, 3, 2, 4], paramShape: [2, 3, 2, 4], withScale: true }, // full-rank parameters
];

describe('FusedBatchNorm gradient without Tile', () => {
  it('gives the same gradients as tfjs-core for x, mean, variance, offset and scale', async () => {
    await tf.setBackend('cpu');
    // Reference first: tfjs-core's own gradient, before bnlab replaces it in this process.
    const reference: Float32Array[][] = [];
    for (const c of cases) reference.push(await bnGradients(c));

    registerWasmGradientKernels();
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      for (let i = 0; i < cases.length; i++) {
        const actual = await bnGradients(cases[i]);
        expect(actual.length).toBe(reference[i].length);
        actual.forEach((g, input) => expect(maxRelativeError(g, reference[i][input])).toBeLessThanOrEqual(1e-5));
      }
    }
  });
});
