import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededValues } from '../../../test/support/gradient-check.ts';
import { selectBackend } from '../backend.ts';
import { RELU_CLIP, RELU_CLIP_GRAD } from '../kernels/relu-clip.ts';
import { useLeanReluMax } from './relu-max-activation.ts';

const SPECIAL = [NaN, -0, 0, -1, 6, 6.000001, 5.999999, 7, Infinity, -Infinity, 1e-45, -1e-45, 3.5, 2.5];

/** A one-layer model around ReLU(maxValue), so useLeanReluMax can find the layer. */
function reluMaxModel(maxValue: number) {
  const input = tf.input({ shape: [9, 9, 3] });
  return tf.model({ inputs: input, outputs: tf.layers.reLU({ maxValue }).apply(input) as tf.SymbolicTensor });
}

function valuesOf(t: tf.Tensor): string[] {
  return Array.from(t.dataSync(), (v) => (Object.is(v, -0) ? '-0' : String(v)));
}

describe('ReLU(max_value) layers as one op each way (wasm)', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it.each([6, 2.5])('max %s: the same outputs and gradients as relu then clipByValue, NaN and signed zeros included', async (maxValue) => {
    const n = 2 * 9 * 9 * 3;
    const x = tf.tensor(seededValues(n, 3).map((v, i) => (i < SPECIAL.length ? SPECIAL[i] : v * 8)), [2, 9, 9, 3]);
    const dy = tf.tensor(seededValues(n, 4).map((v, i) => (i === 1 ? Infinity : v)), [2, 9, 9, 3]);
    const run = (model: tf.LayersModel) => {
      const { value, grads } = tf.valueAndGrads((t: tf.Tensor) => model.apply(t, { training: true }) as tf.Tensor)([x], dy);
      return { value: valuesOf(value), grad: valuesOf(grads[0]) };
    };
    const reference = run(reluMaxModel(maxValue));
    const lean = reluMaxModel(maxValue);
    expect(useLeanReluMax(lean)).toBe(1);
    expect(useLeanReluMax(lean)).toBe(1); // idempotent
    const info = await tf.profile(() => run(lean));
    expect(info.kernelNames).toEqual(expect.arrayContaining([RELU_CLIP, RELU_CLIP_GRAD]));
    expect(info.kernelNames).not.toContain('ClipByValue');
    expect(run(lean)).toEqual(reference);
  });
});
