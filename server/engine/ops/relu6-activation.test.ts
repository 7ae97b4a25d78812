import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.ts';
import { useLeanRelu6 } from './relu6-activation.ts';

function model() {
  const input = tf.input({ shape: [8] });
  const dense = tf.layers.dense({ units: 8, kernelInitializer: 'identity', biasInitializer: 'zeros' }).apply(input) as tf.SymbolicTensor;
  const out = tf.layers.activation({ activation: 'relu6' }).apply(dense) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

async function run(m: tf.LayersModel, x: tf.Tensor, w: tf.Tensor) {
  const variables = m.trainableWeights.map((v) => v.read() as tf.Variable);
  const profile = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => (m.apply(x, { training: true }) as tf.Tensor).mul(w).sum() as tf.Scalar, variables);
    tf.dispose([value]);
    return Object.values(grads);
  });
  const y = m.predict(x) as tf.Tensor;
  const { grads } = tf.variableGrads(() => (m.apply(x, { training: true }) as tf.Tensor).mul(w).sum() as tf.Scalar, variables);
  const out = { y: Array.from(await y.data()), grads: await Promise.all(Object.values(grads).map(async (g) => Array.from(await g.data()))), kernels: profile.kernelNames };
  tf.dispose([y, ...Object.values(grads)]);
  return out;
}

describe('useLeanRelu6', () => {
  it.each(['cpu', 'wasm'])('on %s: same outputs and gradients as tfjs relu6, including at 0 and 6', async (backend) => {
    await selectBackend(backend);
    const m = model();
    // identity dense: the activation sees exactly these values
    const x = tf.tensor2d([[-1, 0, 0.5, 5.99, 6, 6.01, 9, 3], [2, -0, 1e-7, 6, -5, 4, 7, 0]]);
    const w = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [-1, -2, -3, -4, -5, -6, -7, -8]]);
    const reference = await run(m, x, w);
    expect(useLeanRelu6(m)).toBe(1);
    expect(useLeanRelu6(m)).toBe(1);
    const lean = await run(m, x, w);
    expect(lean.y).toEqual(reference.y);
    expect(lean.grads.map((g) => g.map((v) => v + 0))).toEqual(reference.grads.map((g) => g.map((v) => v + 0))); // ±0 alike
    expect(reference.kernels).toContain('Minimum');
    expect(lean.kernels).not.toContain('Minimum');
    expect(lean.kernels).toContain('Relu6');
    if (backend === 'wasm') expect(lean.kernels).toContain('BnlabRelu6GradFromOutput');
    tf.dispose([x, w]);
    m.dispose();
  });
});
