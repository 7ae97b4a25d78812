import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededInt, seededValues } from '../../../test/support/gradient-check.ts';
import { selectBackend } from '../backend.ts';
import { sliceRuns } from './contiguous-runs.ts';

/** `run` gives the same values on wasm and on the cpu backend (whose Slice and PadV2 are plain loops). */
async function expectSameOnCpu(run: () => number[][]) {
  const wasm = run();
  await tf.setBackend('cpu');
  try {
    expect(wasm).toEqual(run());
  } finally {
    await tf.setBackend('wasm');
  }
}

describe('sliceRuns', () => {
  it('finds the contiguous tail and one run per index of the leading axes', () => {
    // [2, 3, 4, 5] → begin [0, 1, 0, 0], size [2, 2, 4, 5]: axes 2, 3 whole, runs of 2·4·5 = 40
    expect(sliceRuns([2, 3, 4, 5], [0, 1, 0, 0], [2, 2, 4, 5])).toEqual({ starts: [20, 80], length: 40 });
    // PadV2's gradient: [16, 113, 113, 48] → [16, 112, 112, 48] from the origin: runs of one row
    const pad = sliceRuns([16, 113, 113, 48], [0, 0, 0, 0], [16, 112, 112, 48])!;
    expect(pad.length).toBe(112 * 48);
    expect(pad.starts.length).toBe(16 * 112);
    expect(pad.starts[1]).toBe(113 * 48);
    expect(pad.starts[112]).toBe(113 * 113 * 48);
    expect(sliceRuns([4, 6], [1, 2], [2, 3])).toBeNull(); // runs of 3: the backend's kernel keeps them
  });
});

describe('Slice as contiguous copies on wasm', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('returns the cpu backend\'s values for random slices of random float32 and int32 tensors', async () => {
    const cases: { shape: number[]; begin: number[]; size: number[]; dtype: 'float32' | 'int32' }[] = [];
    for (let i = 0; i < 60; i++) {
      const seed = 500 + 13 * i;
      const rank = seededInt(seed, 1, 5);
      const shape = Array.from({ length: rank }, (_, d) => seededInt(seed + 1 + d, 1, d === rank - 1 ? 40 : 9));
      const begin = shape.map((n, d) => seededInt(seed + 11 + d, 0, n - 1));
      const size = shape.map((n, d) => (seededInt(seed + 21 + d, 0, 2) === 0 ? n - begin[d] : seededInt(seed + 31 + d, 1, n - begin[d])));
      cases.push({ shape, begin, size, dtype: i % 3 === 0 ? 'int32' : 'float32' });
    }
    cases.push({ shape: [3, 17, 17, 48], begin: [0, 0, 0, 0], size: [3, 16, 16, 48], dtype: 'float32' }); // PadV2's gradient
    const run = () => cases.map(({ shape, begin, size, dtype }, i) => {
      const values = Array.from(seededValues(tf.util.sizeFromShape(shape), 900 + i), (v) => (dtype === 'int32' ? Math.round(v * 1000) : v));
      return Array.from(tf.slice(tf.tensor(values, shape, dtype), begin, size).dataSync());
    });
    await expectSameOnCpu(run);
  });
});

describe('PadV2 as a fill and contiguous copies on wasm', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('returns the cpu backend\'s values for random paddings and constants of float32 and int32 tensors', async () => {
    const cases: { shape: number[]; paddings: [number, number][]; value: number; dtype: 'float32' | 'int32' }[] = [];
    for (let i = 0; i < 40; i++) {
      const seed = 700 + 17 * i;
      const rank = seededInt(seed, 1, 4);
      const shape = Array.from({ length: rank }, (_, d) => seededInt(seed + 1 + d, 1, d === rank - 1 ? 40 : 8));
      const paddings = shape.map((_, d) => [seededInt(seed + 11 + d, 0, 2), seededInt(seed + 21 + d, 0, 2)] as [number, number]);
      cases.push({ shape, paddings, value: i % 4 === 0 ? 0 : i - 0.5, dtype: i % 3 === 0 ? 'int32' : 'float32' });
    }
    cases.push({ shape: [3, 16, 16, 48], paddings: [[0, 0], [0, 1], [0, 1], [0, 0]], value: 0, dtype: 'float32' }); // ZeroPadding2D
    const run = () => cases.map(({ shape, paddings, value, dtype }, i) => {
      const values = Array.from(seededValues(tf.util.sizeFromShape(shape), 300 + i), (v) => (dtype === 'int32' ? Math.round(v * 1000) : v));
      return Array.from(tf.pad(tf.tensor(values, shape, dtype), paddings, dtype === 'int32' ? Math.round(value) : value).dataSync());
    });
    await expectSameOnCpu(run);
  });
});
