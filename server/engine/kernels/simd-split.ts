/**
 * The SIMD kernels as their callers see them (`ConvSimd`), each call split over the threads of
 * simd-threads.ts into parts with disjoint outputs:
 *   - elementwise kernels and per-image kernels split rows or images;
 *   - reductions split channels (rows S floats apart in simd/conv.c), never rows, so every output
 *     is summed in the same order as on one thread and results are bit-identical for any thread count.
 * Calls too small to pay for a hand-off run whole on the calling thread.
 */
import type { SimdThreads } from './simd-threads.ts';

export type ConvArgs = [
  batch: number, inHeight: number, inWidth: number, channels: number, outHeight: number, outWidth: number,
  filterHeight: number, filterWidth: number, strideHeight: number, strideWidth: number, top: number, left: number,
];
type Im2colArgs = [
  inHeight: number, inWidth: number, channels: number, outHeight: number, outWidth: number,
  filterHeight: number, filterWidth: number, strideHeight: number, strideWidth: number, top: number, left: number,
];

export interface ConvSimd {
  /** acc (float64, [KH, KW, C], caller-zeroed) += Σ x ⊙ dy over all taps; multiplier 1. */
  depthwise_filter_grad(x: number, dy: number, acc: number, ...geometry: ConvArgs): void;
  /** dx (float32, NHWC) = depthwise input gradient of dy with filter w [KH, KW, C, 1]. */
  depthwise_input_grad(dy: number, w: number, dx: number, ...geometry: ConvArgs): void;
  /** cols (float32 [rows, KH·KW·C]) = im2col of images [b0, b1) of x (zeros for padding). */
  im2col(x: number, cols: number, b0: number, b1: number, ...geometry: Im2colArgs): void;
  /** acc (float64 [C], caller-zeroed) += column sums of x [rows, C]. */
  column_sums(x: number, acc: number, rows: number, channels: number): void;
  /** out = full ∘ v (or v ∘ full) with v [C] broadcast along the last axis (C = 1: a scalar). */
  binary_broadcast(op: number, full: number, vec: number, out: number, rows: number, channels: number, vecFirst: number): void;
  /** out [rows, C] = (x − mean) ⊙ a + offset, per channel vectors of length C. */
  batch_norm_apply(x: number, mean: number, a: number, offset: number, out: number, rows: number, channels: number): void;
  /** acc (float64 [C], caller-zeroed) += Σ_r (x[r, c] − mean[c])² for x [rows, C]. */
  column_centred_squares(x: number, mean: number, acc: number, rows: number, channels: number): void;
  /** sumDy[c] += Σ_r dy[r, c]; sumDyCentred[c] += Σ_r dy[r, c]·(x[r, c] − mean[c]) (float64, caller-zeroed). */
  batch_norm_grad_sums(dy: number, x: number, mean: number, sumDy: number, sumDyCentred: number, rows: number, channels: number): void;
  /** dx[r, c] = kDy[c]·dy[r, c] + kX[c]·(x[r, c] − mean[c]) + k1[c]. */
  batch_norm_grad_apply(dy: number, x: number, mean: number, kDy: number, kX: number, k1: number, dx: number, rows: number, channels: number): void;
  /** acc (float64 [Ci, Co], caller-zeroed) += xᵀ · dy for x [rows, Ci], dy [rows, Co]. */
  pointwise_filter_grad(x: number, dy: number, acc: number, rows: number, inChannels: number, outChannels: number): void;
  /** dx[i] = dy[i] where 0 < y[i] < 6, else 0. */
  relu6_grad_from_output(dy: number, y: number, dx: number, count: number): void;
  /** dx (float32 NHWC, images [b0, b1) caller-zeroed) += col2im of cols [rows, KH·KW·C] (adjoint of im2col). */
  col2im(cols: number, dx: number, b0: number, b1: number, ...geometry: Im2colArgs): void;
  /** dx = dy where lo ≤ x ≤ hi, else +0 (tfjs's ClipByValue gradient). */
  clip_grad(dy: number, x: number, dx: number, count: number, lo: number, hi: number): void;
  /** dx = dy · step(x) (tfjs's Relu gradient: 1 for x > 0, NaN for NaN, else 0). */
  relu_grad(dy: number, x: number, dx: number, count: number): void;
  /** y = clip(relu(x), 0, hi) as tfjs computes it (NaN and x ≤ 0: +0). */
  relu_clip(x: number, y: number, count: number, hi: number): void;
  /** The gradient of relu_clip from x, with tfjs's chained values (see simd/conv.c). */
  relu_clip_grad(dy: number, x: number, dx: number, count: number, hi: number): void;
  /** One Adam step of n floats (tfjs's op order and roundings): writes w', m', v'. */
  adam_update(
    w: number, g: number, m: number, v: number, wOut: number, mOut: number, vOut: number, n: number,
    beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number, c1: number, c2: number, epsilon: number, negLr: number,
  ): void;
}

/** The module's exports (simd/conv.c): ConvSimd's reductions with their row strides made explicit. */
export type SimdExports = Record<keyof ConvSimd, (...args: number[]) => void>;

/**
 * BNLAB_KERNEL_THREADS, else 1. Not the core count: on the 2-core machines measured, XNNPACK's pool
 * (threaded-wasm.ts) already has a thread on the other core, busy-waiting between its ops, and the
 * scheduler does not hand that core to a helper promptly, so a helper gains ~10 % on full
 * fine-tuning and loses a little on train-bn (BENCH.md, "kernel threads"). Lowering the pool
 * threads' priority instead made steps 15–60× slower under load (pthreadpool waits for a starved
 * worker), so that is not done.
 */
export function defaultKernelThreads(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BNLAB_KERNEL_THREADS;
  if (raw == null || raw.trim() === '') return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`BNLAB_KERNEL_THREADS must be a positive integer, got '${raw}'`);
  return n;
}

export const splitOptions = {
  /**
   * Threads a kernel call may use, the calling one included (1: one thread, no helpers). Helper
   * threads are started for this count when a backend's kernels are first instantiated; lowering
   * it later (tests comparing counts) just uses fewer.
   */
  threads: defaultKernelThreads(),
  /** Below this many floats touched per part a call is not split: a hand-off costs 20–250 µs here. */
  minFloatsPerPart: Number(process.env.BNLAB_KERNEL_SPLIT_MIN ?? 262_144),
};

/** First comparison op of binary_broadcast (simd/conv.c): those write one byte per element, not four. */
const FIRST_COMPARISON_OP = 6;

/**
 * [start, end) ranges covering [0, total) for up to `threads` parts of at least
 * `splitOptions.minFloatsPerPart` floats each (`floatsPerUnit` per unit of the range), with every
 * boundary a multiple of `align`.
 */
export function splitRange(total: number, threads: number, floatsPerUnit: number, align = 1): [number, number][] {
  const byWork = Math.floor((total * floatsPerUnit) / splitOptions.minFloatsPerPart);
  const parts = Math.max(1, Math.min(threads, byWork, Math.floor(total / align)));
  const ranges: [number, number][] = [];
  let start = 0;
  for (let p = 1; p <= parts; p++) {
    const end = p === parts ? total : Math.round((total * p) / parts / align) * align;
    if (end > start) ranges.push([start, end]);
    start = Math.max(start, end);
  }
  return ranges;
}

/** ConvSimd over the raw exports: each call split over `threads` (null: one thread, the exports as they are). */
export function splitKernels(raw: SimdExports, threads: SimdThreads | null): ConvSimd {
  const parallelism = () => Math.min(splitOptions.threads, threads?.parallelism ?? 1);
  const run = (name: keyof ConvSimd, parts: number[][]) => {
    if (parts.length === 1 || !threads) for (const args of parts) raw[name](...args);
    else threads.run(parts.map((args) => ({ name, args })));
  };
  /** An elementwise kernel (pointers…, count, scalars…): each part gets every pointer advanced to its start. */
  const elementwise = (name: keyof ConvSimd, pointers: number[], count: number, scalars: number[] = []) =>
    run(name, splitRange(count, parallelism(), pointers.length, 4).map(([i0, i1]) => [...pointers.map((p) => p + 4 * i0), i1 - i0, ...scalars]));
  return {
    depthwise_filter_grad(x, dy, acc, ...g) {
      const [batch, , , channels, outHeight, outWidth, filterHeight, filterWidth] = g;
      const perChannel = batch * outHeight * outWidth * filterHeight * filterWidth;
      run('depthwise_filter_grad', splitRange(channels, parallelism(), perChannel, 4).map(([c0, c1]) => {
        const part = [...g];
        part[3] = c1 - c0;
        return [x + 4 * c0, dy + 4 * c0, acc + 8 * c0, ...part, channels];
      }));
    },
    depthwise_input_grad(dy, w, dx, ...g) {
      const [batch, inHeight, inWidth, channels, outHeight, outWidth] = g;
      const perImage = (inHeight * inWidth + outHeight * outWidth) * channels;
      run('depthwise_input_grad', splitRange(batch, parallelism(), perImage).map(([b0, b1]) => {
        const part = [...g];
        part[0] = b1 - b0;
        return [dy + 4 * b0 * outHeight * outWidth * channels, w, dx + 4 * b0 * inHeight * inWidth * channels, ...part];
      }));
    },
    im2col(x, cols, b0, b1, ...g) {
      const [, , channels, outHeight, outWidth, filterHeight, filterWidth] = g;
      const perImage = outHeight * outWidth * filterHeight * filterWidth * channels;
      run('im2col', splitRange(b1 - b0, parallelism(), perImage).map(([i0, i1]) => [x, cols + 4 * i0 * perImage, b0 + i0, b0 + i1, ...g]));
    },
    col2im(cols, dx, b0, b1, ...g) {
      const [, , channels, outHeight, outWidth, filterHeight, filterWidth] = g;
      const perImage = outHeight * outWidth * filterHeight * filterWidth * channels;
      run('col2im', splitRange(b1 - b0, parallelism(), perImage).map(([i0, i1]) => [cols + 4 * i0 * perImage, dx, b0 + i0, b0 + i1, ...g]));
    },
    column_sums(x, acc, rows, channels) {
      run('column_sums', splitRange(channels, parallelism(), rows, 4).map(([c0, c1]) => [x + 4 * c0, acc + 8 * c0, rows, c1 - c0, channels]));
    },
    column_centred_squares(x, mean, acc, rows, channels) {
      run('column_centred_squares', splitRange(channels, parallelism(), rows, 4).map(([c0, c1]) =>
        [x + 4 * c0, mean + 4 * c0, acc + 8 * c0, rows, c1 - c0, channels]));
    },
    batch_norm_grad_sums(dy, x, mean, sumDy, sumDyCentred, rows, channels) {
      run('batch_norm_grad_sums', splitRange(channels, parallelism(), 2 * rows, 4).map(([c0, c1]) =>
        [dy + 4 * c0, x + 4 * c0, mean + 4 * c0, sumDy + 8 * c0, sumDyCentred + 8 * c0, rows, c1 - c0, channels]));
    },
    pointwise_filter_grad(x, dy, acc, rows, inChannels, outChannels) {
      // Every part reads all of dy, so a part's work is its x columns and the whole of dy.
      const perChannel = (rows * (inChannels + outChannels)) / inChannels;
      run('pointwise_filter_grad', splitRange(inChannels, parallelism(), perChannel, 4)
        .map(([c0, c1]) => [x + 4 * c0, dy, acc + 8 * c0 * outChannels, rows, c1 - c0, outChannels, inChannels]));
    },
    binary_broadcast(op, full, vec, out, rows, channels, vecFirst) {
      const outBytes = op >= FIRST_COMPARISON_OP ? 1 : 4;
      run('binary_broadcast', splitRange(rows, parallelism(), 2 * channels, channels === 1 ? 16 : 1).map(([r0, r1]) =>
        [op, full + 4 * r0 * channels, vec, out + outBytes * r0 * channels, r1 - r0, channels, vecFirst]));
    },
    batch_norm_apply(x, mean, a, offset, out, rows, channels) {
      run('batch_norm_apply', splitRange(rows, parallelism(), 2 * channels).map(([r0, r1]) =>
        [x + 4 * r0 * channels, mean, a, offset, out + 4 * r0 * channels, r1 - r0, channels]));
    },
    batch_norm_grad_apply(dy, x, mean, kDy, kX, k1, dx, rows, channels) {
      run('batch_norm_grad_apply', splitRange(rows, parallelism(), 3 * channels).map(([r0, r1]) => {
        const offset = 4 * r0 * channels;
        return [dy + offset, x + offset, mean, kDy, kX, k1, dx + offset, r1 - r0, channels];
      }));
    },
    adam_update(w, g, m, v, wOut, mOut, vOut, n, ...scalars) {
      elementwise('adam_update', [w, g, m, v, wOut, mOut, vOut], n, scalars);
    },
    clip_grad(dy, x, dx, count, lo, hi) {
      elementwise('clip_grad', [dy, x, dx], count, [lo, hi]);
    },
    relu_grad(dy, x, dx, count) {
      elementwise('relu_grad', [dy, x, dx], count);
    },
    relu_clip(x, y, count, hi) {
      elementwise('relu_clip', [x, y], count, [hi]);
    },
    relu_clip_grad(dy, x, dx, count, hi) {
      elementwise('relu_clip_grad', [dy, x, dx], count, [hi]);
    },
    relu6_grad_from_output(dy, y, dx, count) {
      elementwise('relu6_grad_from_output', [dy, y, dx], count);
    },
  };
}
