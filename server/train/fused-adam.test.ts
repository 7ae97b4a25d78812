import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededValues } from '../../test/support/gradient-check.ts';
import { selectBackend } from '../engine/backend.ts';
import { ADAM_UPDATE, adamUpdateUsable } from '../engine/kernels/adam-update.ts';
import { FusedAdam, fusedAdamOptions } from './fused-adam.ts';

const SHAPES = [[3, 3, 8, 1], [1, 1, 13, 7], [37], [1], [5, 2]];

/** Runs `steps` Adam steps from fixed weights and gradients; returns every variable's and moment's bytes. */
async function train(optimizer: tf.Optimizer, steps: number, tag: string) {
  const variables = SHAPES.map((shape, i) => tf.variable(tf.tensor(seededValues(tf.util.sizeFromShape(shape), 10 + i), shape), true, `${tag}/w${i}`));
  const kernels = new Set<string>();
  for (let step = 0; step < steps; step++) {
    const grads: tf.NamedTensorMap = {};
    variables.forEach((v, i) => (grads[v.name] = tf.tensor(seededValues(v.size, 100 * step + i), v.shape).mul(step % 2 ? 3 : 0.01)));
    const info = await tf.profile(() => optimizer.applyGradients(grads));
    info.kernelNames.forEach((k) => kernels.add(k));
    tf.dispose(Object.values(grads));
  }
  const state = (await optimizer.getWeights()).map((w) => ({ name: w.name.replace(tag, ''), bytes: Array.from(new Uint8Array(w.tensor.dataSync().slice().buffer)) }));
  const weights = variables.map((v) => Array.from(new Uint8Array(v.dataSync().slice().buffer)));
  variables.forEach((v) => v.dispose());
  optimizer.dispose();
  return { weights, state, kernels };
}

describe('FusedAdam (one wasm kernel per variable per step)', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('gives tfjs Adam\'s weights and moments bit for bit, with one kernel per variable', async () => {
    expect(adamUpdateUsable()).toBe(true);
    const reference = await train(tf.train.adam(0.01), 6, 'reference');
    const fused = await train(new FusedAdam(0.01, 0.9, 0.999), 6, 'fused');
    expect(fused.kernels.has(ADAM_UPDATE)).toBe(true);
    expect(reference.kernels.has(ADAM_UPDATE)).toBe(false);
    expect(fused.kernels.has('Sqrt')).toBe(false); // the per-variable ops are gone
    expect(fused.weights).toEqual(reference.weights);
    expect(fused.state).toEqual(reference.state);
  });

  it('falls back to tfjs Adam (same numbers) when turned off, and keeps the class name checkpoints record', async () => {
    fusedAdamOptions.enabled = false;
    try {
      const off = await train(new FusedAdam(0.01, 0.9, 0.999), 3, 'off');
      const reference = await train(tf.train.adam(0.01), 3, 'reference2');
      expect(off.kernels.has(ADAM_UPDATE)).toBe(false);
      expect(off.weights).toEqual(reference.weights);
    } finally {
      fusedAdamOptions.enabled = true;
    }
    expect(FusedAdam.className).toBe('Adam');
    expect(new FusedAdam(0.01, 0.9, 0.999).getClassName()).toBe('Adam');
  });
});
