import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededValues } from '../../../test/support/gradient-check.ts';
import { selectBackend } from '../backend.ts';
import { CLIP_GRAD, RELU_GRAD } from './activation-grads.ts';

const SPECIAL = [NaN, -0, 0, -1, 6, 6.000001, 5.999999, 7, Infinity, -Infinity, 1e-45, -1e-45, 3.5];

/** x: specials, then seeded values spread over (−8, 8) so both clip bounds are crossed; n has a tail. */
function operands(n = 1003) {
  const x = seededValues(n, 5).map((v, i) => (i < SPECIAL.length ? SPECIAL[i] : v * 8));
  const dy = seededValues(n, 6).map((v, i) => (i === 1 ? Infinity : v)); // dy · 0 with dy = ∞ is NaN
  return { x: tf.tensor(x, [1, 17, 59, 1]), dy: tf.tensor(dy, [1, 17, 59, 1]) };
}

/** Same numbers, NaN equal to NaN and −0 different from +0. */
function expectSameValues(actual: tf.Tensor, expected: tf.Tensor) {
  const a = Array.from(actual.dataSync());
  const e = Array.from(expected.dataSync());
  expect(a.length).toBe(e.length);
  const differing = a.flatMap((v, i) => (Object.is(v, e[i]) ? [] : [`${i}: ${v} vs ${e[i]}`]));
  expect(differing).toEqual([]);
}

describe('one-pass ReLU and clip gradients on wasm', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('ClipByValue: the same values as tfjs-core\'s where(logicalAnd(x ≥ lo, x ≤ hi), dy, 0), in one kernel', async () => {
    const { x, dy } = operands();
    const grad = tf.grad((t: tf.Tensor) => tf.clipByValue(t, 0, 6));
    const info = await tf.profile(() => grad(x, dy));
    expect(info.kernelNames).toContain(CLIP_GRAD);
    expect(info.kernelNames).not.toContain('LogicalAnd');
    const composite = tf.where(tf.logicalAnd(tf.greaterEqual(x, 0), tf.lessEqual(x, 6)), dy, tf.zerosLike(dy));
    expectSameValues(grad(x, dy), composite);
  });

  it('Relu: the same values as tfjs-core\'s dy · step(x), signed zeros and NaNs included, in one kernel', async () => {
    const { x, dy } = operands();
    const grad = tf.grad((t: tf.Tensor) => tf.relu(t));
    const info = await tf.profile(() => grad(x, dy));
    expect(info.kernelNames).toContain(RELU_GRAD);
    expect(info.kernelNames).not.toContain('Step');
    expectSameValues(grad(x, dy), tf.mul(dy, tf.cast(tf.step(x), 'float32')));
  });

  it('a ReLU(max_value=6) layer (relu, then clip) trains to the same gradients as on the cpu backend', async () => {
    const layer = tf.layers.reLU({ maxValue: 6 });
    const x = tf.tensor(seededValues(4 * 9 * 9 * 8, 7), [4, 9, 9, 8]).mul(8);
    const dy = tf.tensor(seededValues(4 * 9 * 9 * 8, 8), [4, 9, 9, 8]);
    const wasm = tf.grad((t: tf.Tensor) => layer.apply(t) as tf.Tensor)(x, dy).dataSync().slice();
    await tf.setBackend('cpu');
    try {
      const cpu = tf.grad((t: tf.Tensor) => layer.apply(t) as tf.Tensor)(tf.tensor(x.dataSync(), x.shape), tf.tensor(dy.dataSync(), dy.shape)).dataSync();
      expect(Array.from(wasm)).toEqual(Array.from(cpu));
    } finally {
      await tf.setBackend('wasm');
    }
  });
});
