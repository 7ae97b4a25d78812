import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { registerWasmGradientKernels } from '../backend.ts';
import { maxRelativeError, seededValues } from '../../../test/support/gradient-check.ts';
import { reducesLeadingAxes } from './leading-axes-reduce.ts';

type Reduction = { shape: number[]; axis: number | number[] | undefined; keepDims: boolean };

const reductions: Reduction[] = [
  { shape: [3, 5, 4, 8], axis: [0, 1, 2], keepDims: false }, // BatchNorm's case (fast path)
  { shape: [2, 7, 6, 19], axis: [0, 1, 2], keepDims: true },
  { shape: [600, 3], axis: 0, keepDims: false }, // more rows than one float32 block
  { shape: [4, 9, 9, 37], axis: [-4, -3, -2], keepDims: false },
  { shape: [2, 3, 4, 5], axis: [1, 2], keepDims: false }, // not leading: the backend's kernel
  { shape: [2, 3, 4, 5], axis: 3, keepDims: true },
  { shape: [2, 3, 4, 5], axis: undefined, keepDims: false },
];

async function reduceOn(backend: string, r: Reduction, op: 'sum' | 'mean') {
  if (!(await tf.setBackend(backend))) throw new Error(`no ${backend}`);
  const x = tf.tensor(seededValues(tf.util.sizeFromShape(r.shape), r.shape.length * 7 + r.shape[0]), r.shape);
  const y = op === 'sum' ? tf.sum(x, r.axis, r.keepDims) : tf.mean(x, r.axis, r.keepDims);
  const result = { shape: y.shape, values: await y.data<'float32'>() };
  tf.dispose([x, y]);
  return result;
}

describe('Sum and Mean over leading axes on wasm', () => {
  it('recognises exactly the leading-axes reductions', () => {
    expect(reducesLeadingAxes([0, 1, 2], [2, 3, 4, 5])).toBe(true);
    expect(reducesLeadingAxes([2, 0, 1], [2, 3, 4, 5])).toBe(true);
    expect(reducesLeadingAxes(0, [7, 5])).toBe(true);
    expect(reducesLeadingAxes([1, 2], [2, 3, 4, 5])).toBe(false);
    expect(reducesLeadingAxes([0, 1, 2, 3], [2, 3, 4, 5])).toBe(false);
    expect(reducesLeadingAxes(0, [5])).toBe(false);
  });

  it.each(reductions.flatMap((r) => (['sum', 'mean'] as const).map((op) => [op, JSON.stringify(r), r, op] as const)))(
    '%s %s matches the cpu backend',
    async (_op, _name, r, op) => {
      registerWasmGradientKernels();
      const reference = await reduceOn('cpu', r, op);
      const actual = await reduceOn('wasm', r, op);
      expect(actual.shape).toEqual(reference.shape);
      expect(maxRelativeError(actual.values, reference.values)).toBeLessThanOrEqual(1e-5);
    },
  );

  it('keeps tensor and data counts unchanged', async () => {
    registerWasmGradientKernels();
    await tf.setBackend('wasm');
    const x = tf.randomNormal([4, 6, 6, 12]);
    tf.tidy(() => {
      tf.sum(x, [0, 1, 2]);
    });
    const before = tf.memory().numTensors;
    const ids = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    tf.tidy(() => {
      tf.add(tf.sum(x, [0, 1, 2]), tf.mean(x, [0, 1, 2], true));
    });
    expect(tf.memory().numTensors).toBe(before);
    expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds()).toBe(ids);
    x.dispose();
  });
});
