/**
 * Test support for bnlab's wasm gradient kernels: the same convolution's gradients computed on the
 * wasm backend and on the cpu backend (whose gradient kernels are tfjs's reference loops), from
 * identical seeded inputs moved between backends as plain arrays.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWasmGradientKernels } from '../../server/engine/backend.ts';
import { simdOptions } from '../../server/engine/kernels/simd-module.ts';

export type Shape4 = [number, number, number, number];
export type Conv = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D;

/** Deterministic uniform values in [-1, 1) (mulberry32), so both backends see the same numbers. */
export function seededValues(count: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export function seededInt(seed: number, lo: number, hi: number): number {
  return lo + Math.floor(((seededValues(1, seed)[0] + 1) / 2) * (hi - lo + 1));
}

export interface ConvCase {
  xShape: Shape4;
  wShape: Shape4;
  conv: Conv;
  seed: number;
}

/**
 * Gradients of L = Σ conv(x, w) ⊙ r w.r.t. x and w on `backend` (r a fixed seeded tensor, so the
 * upstream gradient dy = r exercises every output element with a different weight).
 */
export async function convGradients(backend: 'wasm' | 'cpu', c: ConvCase) {
  if (backend === 'wasm') registerWasmGradientKernels();
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} failed to initialise`);
  const x = tf.tensor4d(seededValues(tf.util.sizeFromShape(c.xShape), c.seed), c.xShape);
  const w = tf.tensor4d(seededValues(tf.util.sizeFromShape(c.wShape), c.seed + 1), c.wShape);
  const outShape = tf.tidy(() => c.conv(x, w).shape);
  const r = tf.tensor(seededValues(tf.util.sizeFromShape(outShape), c.seed + 2), outShape);
  const loss = (xv: tf.Tensor, wv: tf.Tensor) => tf.sum(tf.mul(c.conv(xv as tf.Tensor4D, wv as tf.Tensor4D), r));
  const [dx, dw] = tf.grads(loss)([x, w]);
  const result = { dx: await dx.data<'float32'>(), dw: await dw.data<'float32'>(), x, w, r };
  tf.dispose([dx, dw]);
  return result;
}

/** max |a − b| / max |b|: error relative to the reference's scale. */
export function maxRelativeError(actual: ArrayLike<number>, reference: ArrayLike<number>): number {
  if (actual.length !== reference.length) throw new Error(`length ${actual.length} != ${reference.length}`);
  let maxDiff = 0;
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i] - reference[i]));
    scale = Math.max(scale, Math.abs(reference[i]));
  }
  return scale === 0 ? maxDiff : maxDiff / scale;
}

/**
 * Central differences of L on the current backend at a few seeded coordinates of x or w, returned
 * with the analytic gradient at the same coordinates. float32 only, so use a step around 1e-2.
 */
export async function finiteDifferences(
  c: ConvCase,
  analytic: { dx: Float32Array; dw: Float32Array },
  wrt: 'x' | 'w',
  probes: number,
  step = 1e-2,
): Promise<{ numeric: number[]; analytic: number[] }> {
  const shape = wrt === 'x' ? c.xShape : c.wShape;
  const base = seededValues(tf.util.sizeFromShape(shape), wrt === 'x' ? c.seed : c.seed + 1);
  const other = tf.tensor4d(
    seededValues(tf.util.sizeFromShape(wrt === 'x' ? c.wShape : c.xShape), wrt === 'x' ? c.seed + 1 : c.seed),
    wrt === 'x' ? c.wShape : c.xShape,
  );
  const outShape = tf.tidy(() => (wrt === 'x' ? c.conv(tf.zeros(c.xShape), other) : c.conv(other, tf.zeros(c.wShape))).shape);
  const r = tf.tensor(seededValues(tf.util.sizeFromShape(outShape), c.seed + 2), outShape);
  const lossAt = async (values: Float32Array) => {
    const value = tf.tidy(() => {
      const t = tf.tensor4d(values, shape);
      const y = wrt === 'x' ? c.conv(t, other) : c.conv(other, t);
      return tf.sum(tf.mul(y, r));
    });
    const [v] = await value.data();
    value.dispose();
    return v;
  };
  const numeric: number[] = [];
  const exact: number[] = [];
  for (let p = 0; p < probes; p++) {
    const i = seededInt(c.seed * 131 + p, 0, base.length - 1);
    const plus = base.slice();
    plus[i] += step;
    const minus = base.slice();
    minus[i] -= step;
    numeric.push(((await lossAt(plus)) - (await lossAt(minus))) / (2 * step));
    exact.push((wrt === 'x' ? analytic.dx : analytic.dw)[i]);
  }
  tf.dispose([other, r]);
  return { numeric, analytic: exact };
}

/**
 * The cross-check every gradient kernel test starts with: for each `mode` (SIMD module on/off),
 * every case's wasm gradient `which` must match the cpu backend's own kernel to 1e-4 relative.
 * `extra` adds mode-specific tests inside the same SIMD setting.
 */
export function describeMatchesCpu(
  title: string,
  cases: () => ConvCase[],
  which: 'dx' | 'dw',
  modes: readonly (readonly [string, boolean])[],
  extra?: () => void,
): void {
  describe.each(modes)('%s', (_label, simd) => {
    const saved = simdOptions.enabled;
    beforeAll(() => {
      simdOptions.enabled = simd;
    });
    afterAll(() => {
      simdOptions.enabled = saved;
    });

    it.each(cases().map((c) => [`${c.xShape} * ${c.wShape}`, c] as const))(`${title}: matches the cpu backend for x %s`, async (_name, c) => {
      const reference = await convGradients('cpu', c);
      const wasm = await convGradients('wasm', c);
      expect(tf.getBackend()).toBe('wasm');
      expect(maxRelativeError(wasm[which], reference[which])).toBeLessThanOrEqual(1e-4);
    });

    extra?.();
  });
}

/**
 * Twelve random depthwise cases: stride 1/2, same/valid, odd/even sizes, 1..16 channels, channel
 * multiplier 1..2. `kernelSize(seed)` picks the filter size, so each kernel's test keeps its own mix.
 */
export function depthwiseCases(seedBase: number, seedStep: number, kernelSize: (seed: number) => number): ConvCase[] {
  const cases: ConvCase[] = [];
  for (let i = 0; i < 12; i++) {
    const seed = seedBase + i * seedStep;
    const k = kernelSize(seed);
    const stride = (i % 2) + 1;
    const pad = i % 4 < 2 ? 'same' : 'valid';
    const h = seededInt(seed + 2, k, k + 9);
    const w = seededInt(seed + 3, k, k + 9);
    const channels = seededInt(seed + 4, 1, 16);
    const multiplier = i % 3 === 2 ? 2 : 1;
    const batch = seededInt(seed + 5, 1, 3);
    cases.push({
      xShape: [batch, h, w, channels],
      wShape: [k, k, channels, multiplier],
      conv: (x, f) => tf.depthwiseConv2d(x, f, stride, pad),
      seed,
    });
  }
  return cases;
}
