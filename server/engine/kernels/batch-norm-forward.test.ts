import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.ts';
import { maxRelativeError, seededValues } from '../../../test/support/gradient-check.ts';

interface Case { xShape: number[]; paramShape: number[]; withOffset: boolean; withScale: boolean }

async function batchNormOn(backend: string, c: Case): Promise<Float32Array> {
  await tf.setBackend(backend);
  const make = (shape: number[], seed: number, positive = false) => {
    const v = seededValues(tf.util.sizeFromShape(shape), seed);
    return tf.tensor(positive ? v.map((a) => 0.2 + Math.abs(a)) : v.map((a) => a * 3), shape);
  };
  const inputs = [make(c.xShape, 1), make(c.paramShape, 2), make(c.paramShape, 3, true), make(c.paramShape, 4), make(c.paramShape, 5)];
  const [x, mean, variance, offset, scale] = inputs;
  const y = tf.batchNorm(x, mean, variance, c.withOffset ? offset : undefined, c.withScale ? scale : undefined, 1e-3);
  const out = await y.data<'float32'>();
  tf.dispose([...inputs, y]);
  return out;
}

describe('FusedBatchNorm forward on wasm (one-pass SIMD)', () => {
  const cases: Case[] = [
    { xShape: [2, 5, 7, 8], paramShape: [8], withOffset: true, withScale: true }, // SIMD channels
    { xShape: [3, 4, 4, 6], paramShape: [6], withOffset: true, withScale: true }, // scalar tail
    { xShape: [4, 5], paramShape: [1, 5], withOffset: false, withScale: true },
    { xShape: [2, 3, 3, 12], paramShape: [12], withOffset: true, withScale: false },
    { xShape: [2, 3, 4], paramShape: [2, 3, 4], withOffset: true, withScale: true }, // full-rank: backend kernel
  ];
  it.each(cases.map((c) => [`${c.xShape} / ${c.paramShape} offset=${c.withOffset} scale=${c.withScale}`, c] as const))(
    'matches the cpu backend for %s',
    async (_name, c) => {
      await selectBackend('wasm');
      const wasm = await batchNormOn('wasm', c);
      const reference = await batchNormOn('cpu', c);
      expect(maxRelativeError(wasm, reference)).toBeLessThanOrEqual(1e-5);
      await tf.setBackend('wasm');
    },
  );
});
