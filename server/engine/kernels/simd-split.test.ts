import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededValues } from '../../../test/support/gradient-check.ts';
import { selectBackend } from '../backend.ts';
import { convSimd, simdThreadsOf, type ConvSimd } from './simd-module.ts';
import { splitOptions, splitRange } from './simd-split.ts';
import { asWasmBackend, heapOffset, type WasmBackendInternals } from './wasm-heap.ts';

describe('splitRange', () => {
  it('covers [0, total) with aligned, non-empty parts, no more than the threads or the work allow', () => {
    const saved = splitOptions.minFloatsPerPart;
    splitOptions.minFloatsPerPart = 100;
    try {
      expect(splitRange(37, 2, 10, 4)).toEqual([[0, 20], [20, 37]]);
      expect(splitRange(37, 4, 10, 4)).toEqual([[0, 12], [12, 24], [24, 37]]); // 370 floats: 3 parts of ≥ 100
      expect(splitRange(37, 2, 1, 4)).toEqual([[0, 37]]); // 37 floats: below one part's minimum
      expect(splitRange(6, 2, 1000, 4)).toEqual([[0, 6]]); // only one aligned boundary would fit
      for (const [total, threads, align] of [[1, 3, 1], [9, 3, 4], [1000, 3, 16], [17, 4, 1]]) {
        const ranges = splitRange(total, threads, 1000, align);
        expect(ranges[0][0]).toBe(0);
        expect(ranges.at(-1)![1]).toBe(total);
        for (let i = 0; i < ranges.length; i++) {
          expect(ranges[i][1]).toBeGreaterThan(ranges[i][0]);
          if (i > 0) expect(ranges[i][0]).toBe(ranges[i - 1][1]);
          if (i > 0) expect(ranges[i][0] % align).toBe(0);
        }
        expect(ranges.length).toBeLessThanOrEqual(threads);
      }
    } finally {
      splitOptions.minFloatsPerPart = saved;
    }
  });
});

/**
 * Every SIMD kernel, run whole on one thread and split over two (forced even for these small shapes),
 * must write bit-identical outputs: channel counts and sizes are odd on purpose, so that parts end
 * inside SIMD blocks and the scalar tails are exercised.
 */
describe('SIMD kernels on two threads (threaded wasm backend)', () => {
  let backend: WasmBackendInternals;
  let simd: ConvSimd;
  const savedThreads = splitOptions.threads;
  const savedMin = splitOptions.minFloatsPerPart;

  beforeAll(async () => {
    process.env.BNLAB_WASM_THREADS = '2'; // the threaded build, whatever the machine's core count
    splitOptions.threads = 2;
    await selectBackend('wasm');
    backend = asWasmBackend(tf.backend());
    simd = convSimd(backend)!;
    expect(simd, 'the SIMD module did not load').not.toBeNull();
    const pool = simdThreadsOf(backend);
    expect(pool, 'the threaded backend should start a helper thread').not.toBeNull();
    for (let i = 0; i < 500 && pool!.parallelism < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(pool!.parallelism).toBe(2);
    splitOptions.minFloatsPerPart = 64;
  });

  afterAll(() => {
    splitOptions.threads = savedThreads;
    splitOptions.minFloatsPerPart = savedMin;
  });

  /** A float32 tensor of seeded values (or zeros) and a float64 scratch block, on the wasm heap. */
  const input = (shape: number[], seed: number) => tf.tensor(seededValues(tf.util.sizeFromShape(shape), seed), shape);
  const bytesOf = (t: tf.Tensor) => {
    const data = t.dataSync();
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  };
  const ptr = (t: tf.Tensor) => heapOffset(backend, t as unknown as tf.TensorInfo);

  /**
   * Runs `kernel` with 1 and with 2 threads on fresh outputs (`outputs()` builds them zeroed) and
   * returns both runs' bytes, checking that the 2-thread run handed work to the helper.
   */
  function bothWays(outputs: () => { tensors: tf.Tensor[]; f64?: number }, kernel: (out: tf.Tensor[], f64: number) => void) {
    const runs: Uint8Array[][] = [];
    for (const threads of [1, 2]) {
      splitOptions.threads = threads;
      const { tensors, f64 = 0 } = outputs();
      const scratch = f64 ? backend.wasm._malloc(f64 * 8) >>> 0 : 0;
      if (scratch) new Float64Array(backend.wasm.HEAPF32.buffer, scratch, f64).fill(0);
      const before = simdThreadsOf(backend)!.handedOff;
      kernel(tensors, scratch);
      const handed = simdThreadsOf(backend)!.handedOff - before;
      expect(handed > 0, `${threads} thread(s): handed ${handed} parts to the helper`).toBe(threads > 1);
      const bytes = tensors.map(bytesOf);
      if (scratch) {
        bytes.push(new Uint8Array(new Float64Array(backend.wasm.HEAPF32.buffer, scratch, f64).slice().buffer));
        backend.wasm._free(scratch);
      }
      tensors.forEach((t) => t.dispose());
      runs.push(bytes);
    }
    expect(runs[1]).toEqual(runs[0]);
    return runs[0];
  }

  it('reductions split by channel sum in the same order: column sums, centred squares, BN gradient sums, filter gradients', () => {
    const rows = 3 * 7 * 5, channels = 13;
    const x = input([rows, channels], 1), dy = input([rows, channels], 2), mean = input([channels], 3);
    bothWays(() => ({ tensors: [], f64: channels }), (_, acc) => simd.column_sums(ptr(x), acc, rows, channels));
    bothWays(() => ({ tensors: [], f64: channels }), (_, acc) => simd.column_centred_squares(ptr(x), ptr(mean), acc, rows, channels));
    bothWays(() => ({ tensors: [], f64: 2 * channels }), (_, acc) =>
      simd.batch_norm_grad_sums(ptr(dy), ptr(x), ptr(mean), acc, acc + channels * 8, rows, channels));
    const out = input([rows, 11], 4);
    bothWays(() => ({ tensors: [], f64: channels * 11 }), (_, acc) => simd.pointwise_filter_grad(ptr(x), ptr(out), acc, rows, channels, 11));
    // depthwise 3×3 stride 2 'same' on [2, 9, 7, 13]: [2, 5, 4, 13] output
    const dx = input([2, 9, 7, channels], 5), ddy = input([2, 5, 4, channels], 6);
    const geometry = [2, 9, 7, channels, 5, 4, 3, 3, 2, 2, 1, 1] as const;
    bothWays(() => ({ tensors: [], f64: 9 * channels }), (_, acc) => simd.depthwise_filter_grad(ptr(dx), ptr(ddy), acc, ...geometry));
  });

  it('elementwise and per-image kernels split by rows or images write the same bytes', () => {
    const rows = 3 * 7 * 5, channels = 13;
    const x = input([rows, channels], 11), dy = input([rows, channels], 12);
    const vec = [input([channels], 13), input([channels], 14), input([channels], 15)];
    const fresh = (shape: number[], dtype: tf.DataType = 'float32') => () => ({ tensors: [tf.zeros(shape, dtype)] });
    bothWays(fresh([rows, channels]), ([out]) => simd.batch_norm_apply(ptr(x), ptr(vec[0]), ptr(vec[1]), ptr(vec[2]), ptr(out), rows, channels));
    bothWays(fresh([rows, channels]), ([out]) =>
      simd.batch_norm_grad_apply(ptr(dy), ptr(x), ptr(vec[0]), ptr(vec[0]), ptr(vec[1]), ptr(vec[2]), ptr(out), rows, channels));
    const y = tf.tidy(() => x.mul(4).add(3)); // spans ≤ 0, (0, 6) and ≥ 6
    bothWays(fresh([rows * channels]), ([out]) => simd.relu6_grad_from_output(ptr(dy), ptr(y), ptr(out), rows * channels));
    for (const op of [0, 3, 4, 5]) { // add, div, min, max
      bothWays(fresh([rows, channels]), ([out]) => simd.binary_broadcast(op, ptr(x), ptr(vec[0]), ptr(out), rows, channels, 0));
      bothWays(fresh([rows * channels]), ([out]) => simd.binary_broadcast(op, ptr(x), ptr(vec[1]), ptr(out), rows * channels, 1, 1));
    }
    bothWays(fresh([rows * channels], 'bool'), ([out]) => simd.binary_broadcast(6, ptr(x), ptr(vec[1]), ptr(out), rows * channels, 1, 0));
    const images = 5, geometry = [9, 7, channels, 5, 4, 3, 3, 2, 2, 1, 1] as const;
    const nhwc = input([images, 9, 7, channels], 16), grads = input([images, 5, 4, channels], 17);
    const filter = input([3, 3, channels, 1], 18);
    bothWays(fresh([images, 9, 7, channels]), ([out]) => simd.depthwise_input_grad(ptr(grads), ptr(filter), ptr(out), images, ...geometry));
    const cols = input([4 * 5 * 4, 9 * channels], 19);
    bothWays(fresh([4 * 5 * 4, 9 * channels]), ([out]) => simd.im2col(ptr(nhwc), ptr(out), 1, 5, ...geometry));
    bothWays(fresh([images, 9, 7, channels]), ([out]) => simd.col2im(ptr(cols), ptr(out), 1, 5, ...geometry));
  });

  it('a training step of a small convnet gives bit-identical gradients on one and two threads', () => {
    const x = input([4, 16, 16, 12], 21);
    const weights = {
      dw: tf.variable(input([3, 3, 12, 1], 22).mul(0.3)),
      pw: tf.variable(input([1, 1, 12, 20], 23).mul(0.3)),
      conv: tf.variable(input([3, 3, 20, 8], 24).mul(0.2)),
      gamma: tf.variable(tf.ones([20])),
      beta: tf.variable(tf.zeros([20])),
    };
    const loss = () => tf.tidy(() => {
      let h = tf.depthwiseConv2d(x as tf.Tensor4D, weights.dw as tf.Tensor4D, 2, 'same');
      h = tf.conv2d(h, weights.pw as tf.Tensor4D, 1, 'same');
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      h = tf.batchNorm(h, mean, variance, weights.beta, weights.gamma, 1e-3) as tf.Tensor4D;
      h = tf.relu6(h) as tf.Tensor4D;
      h = tf.conv2d(h, weights.conv as tf.Tensor4D, 2, 'same');
      return h.square().mean() as tf.Scalar;
    });
    const runs = [1, 2].map((threads) => {
      splitOptions.threads = threads;
      const before = simdThreadsOf(backend)!.handedOff;
      const { value, grads } = tf.variableGrads(loss);
      const handed = simdThreadsOf(backend)!.handedOff - before;
      expect(handed > 0).toBe(threads > 1);
      const bytes = [value, ...Object.values(grads)].map(bytesOf);
      tf.dispose([value, ...Object.values(grads)]);
      return bytes;
    });
    expect(runs[1]).toEqual(runs[0]);
  });
});
