import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.ts';
import { batchNormTraining, batchNormTrainingOptions } from './batch-norm-training.ts';
import { batchNormTrainingKernelsUsable } from '../kernels/batch-norm-training-kernels.ts';
import { maxRelativeError, seededValues } from '../../../test/support/gradient-check.ts';

interface Case { shape: number[]; offset: number }
const cases: Case[] = [
  { shape: [4, 6, 5, 16], offset: 0 }, // SIMD blocks of 8 channels
  { shape: [3, 7, 7, 12], offset: 3 }, // 8 + 4 channels, non-zero mean
  { shape: [2, 5, 5, 7], offset: -2 }, // scalar channel tail
  { shape: [600, 3], offset: 10 }, // more rows than one float32 block, rank 2, large mean
];

const values = (shape: number[], seed: number, scale = 1, offset = 0) =>
  tf.tensor(seededValues(tf.util.sizeFromShape(shape), seed).map((v) => v * scale + offset), shape);

/** Output, batch statistics and gradients of Σ y·w w.r.t. x, γ, β for the fused op or tfjs's own moments + batchNorm. */
async function run(backend: string, c: Case, fused: boolean) {
  if (!(await tf.setBackend(backend))) throw new Error(`no backend ${backend}`);
  const channels = c.shape[c.shape.length - 1];
  const x = values(c.shape, 1, 2, c.offset);
  const w = values(c.shape, 2);
  const gamma = values([channels], 3, 0.5, 1) as tf.Tensor1D;
  const beta = values([channels], 4) as tf.Tensor1D;
  const axes = c.shape.slice(0, -1).map((_, i) => i);
  let kept: tf.Tensor[] = []; // y, mean, variance
  const f = (xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    let y: tf.Tensor;
    if (fused) {
      const r = batchNormTraining(xi, g as tf.Tensor1D, b as tf.Tensor1D, 1e-3);
      kept = [tf.keep(r.y), r.mean, r.variance];
      y = r.y;
    } else {
      const { mean, variance } = tf.moments(xi, axes);
      y = tf.batchNorm(xi, mean, variance, b, g, 1e-3);
      kept = [tf.keep(y), tf.keep(mean), tf.keep(variance)];
    }
    return y.mul(w).sum();
  };
  const { value, grads } = tf.valueAndGrads(f as never)([x, gamma, beta]);
  const out = {
    y: await kept[0].data(),
    mean: await kept[1].data(),
    variance: await kept[2].data(),
    dx: await grads[0].data(),
    dGamma: await grads[1].data(),
    dBeta: await grads[2].data(),
  };
  tf.dispose([x, w, gamma, beta, value, ...grads, ...kept]);
  return out;
}

describe('fused training-mode batch normalisation', () => {
  afterAll(() => {
    batchNormTrainingOptions.enabled = true;
  });

  it('uses the SIMD kernels on wasm', async () => {
    await selectBackend('wasm');
    expect(batchNormTrainingKernelsUsable()).toBe(true);
    await tf.setBackend('cpu');
    expect(batchNormTrainingKernelsUsable()).toBe(false);
  });

  it.each(cases.flatMap((c) => (['wasm', 'cpu'] as const).map((b) => [b, `${c.shape}`, c, b] as const)))(
    'on %s, shape %s: output, statistics and gradients match tfjs moments + batchNorm on cpu',
    async (_b, _name, c, backend) => {
      await selectBackend('wasm');
      const reference = await run('cpu', c, false);
      const fused = await run(backend, c, true);
      for (const key of Object.keys(reference) as (keyof typeof reference)[]) {
        expect(maxRelativeError(fused[key], reference[key]), key).toBeLessThanOrEqual(1e-4);
      }
    },
  );

  it('keeps no tensors beyond its results', async () => {
    await selectBackend('wasm');
    const x = values([2, 3, 3, 8], 5);
    const gamma = values([8], 6) as tf.Tensor1D;
    const beta = values([8], 7) as tf.Tensor1D;
    const before = tf.memory().numTensors;
    const grads = tf.grads((a: tf.Tensor) => {
      const r = batchNormTraining(a, gamma, beta, 1e-3);
      tf.dispose([r.mean, r.variance]);
      return r.y.sum();
    })([x]);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([x, gamma, beta, ...grads]);
  });
});
