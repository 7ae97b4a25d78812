import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { registerWasmGradientKernels } from '../backend.ts';
import { BROADCAST_OPS, lastAxisBroadcast } from './broadcast-binary.ts';
import { seededValues } from '../../../test/support/gradient-check.ts';

const ops: Record<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
  Add: tf.add, Sub: tf.sub, Multiply: tf.mul, RealDiv: tf.div, Minimum: tf.minimum, Maximum: tf.maximum,
  Greater: tf.greater, GreaterEqual: tf.greaterEqual, Less: tf.less, LessEqual: tf.lessEqual,
};

/** [full shape, other shape]: last-axis broadcasts (fast path) and other broadcasts (backend's path). */
const shapePairs: [number[], number[]][] = [
  [[2, 3, 4, 8], []],
  [[2, 3, 4, 8], [8]],
  [[2, 3, 4, 8], [1, 1, 1, 8]],
  [[5, 7], [7]],
  [[37], [1]],
  [[3, 5, 6], [6]],
  [[2, 3, 4], [2, 1, 4]], // not along the last axis only
  [[4, 6], [4, 6]], // same shape
];

async function apply(backend: string, name: string, aShape: number[], bShape: number[], seed: number) {
  if (!(await tf.setBackend(backend))) throw new Error(`no ${backend}`);
  const values = (shape: number[], s: number) => {
    const v = seededValues(tf.util.sizeFromShape(shape), s).map((x) => Math.round(x * 4) / 2); // ties for ==
    if (v.length > 3) v[2] = NaN;
    return v;
  };
  const a = tf.tensor(values(aShape, seed), aShape);
  const b = tf.tensor(values(bShape, seed + 1), bShape);
  const y = ops[name](a, b);
  const result = { shape: y.shape, dtype: y.dtype, values: Array.from(await y.data()) };
  tf.dispose([a, b, y]);
  return result;
}

describe('last-axis broadcast elementwise ops on wasm', () => {
  it('recognises last-axis broadcasts', () => {
    expect(lastAxisBroadcast([2, 3, 8], [])).toBe(1);
    expect(lastAxisBroadcast([2, 3, 8], [8])).toBe(8);
    expect(lastAxisBroadcast([2, 3, 8], [1, 1, 8])).toBe(8);
    expect(lastAxisBroadcast([2, 3, 8], [3, 1])).toBe(null);
    expect(lastAxisBroadcast([8], [1, 1, 8])).toBe(null);
  });

  const cases = Object.keys(BROADCAST_OPS).flatMap((name) =>
    shapePairs.flatMap(([full, other], i) => [
      [name, `[${full}] ∘ [${other}]`, full, other, i] as const,
      [name, `[${other}] ∘ [${full}]`, other, full, i] as const,
    ]),
  );
  it.each(cases)('%s %s matches the cpu backend (NaN included)', async (name, _label, aShape, bShape, i) => {
    registerWasmGradientKernels();
    const reference = await apply('cpu', name, [...aShape], [...bShape], 10 * i);
    const actual = await apply('wasm', name, [...aShape], [...bShape], 10 * i);
    expect(actual.shape).toEqual(reference.shape);
    expect(actual.dtype).toBe(reference.dtype);
    // NaN is checked only on bnlab's path: the backend's own Minimum/Maximum drop NaN (upstream behaviour).
    const fastPath = lastAxisBroadcast(aShape.length >= bShape.length ? [...aShape] : [...bShape], aShape.length >= bShape.length ? [...bShape] : [...aShape]) !== null
      && tf.util.sizeFromShape([...aShape]) !== tf.util.sizeFromShape([...bShape]);
    for (let k = 0; k < reference.values.length; k++) {
      const [x, y] = [actual.values[k], reference.values[k]];
      if (x === y) continue; // includes ±Infinity from division by zero
      if (Number.isNaN(y)) {
        if (fastPath) expect(x).toBeNaN();
        continue;
      }
      else expect(Math.abs(x - y)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(y)));
    }
  });
});
