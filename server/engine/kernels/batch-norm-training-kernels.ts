/**
 * Two wasm kernels behind bnlab's fused training-mode BatchNorm (server/engine/batch-norm-training.ts),
 * for x viewed as [rows, C] (C = last axis, rows = product of the other axes = M):
 *
 *   BnlabBatchMoments       x → [mean, variance], mean_c = Σ_r x_rc / M,
 *                           variance_c = Σ_r (x_rc − mean_c)² / M (biased, centred two-pass like
 *                           tfjs's moments; float64 accumulation).
 *   BnlabBatchNormTrainGrad x, dy, mean, variance, scale (attr varianceEpsilon) → [dx, dScale, dOffset]:
 *                           r = 1/√(variance + ε), x̂ = (x − mean)·r,
 *                           dOffset = Σ dy, dScale = Σ dy·x̂,
 *                           dx = γ·r/M · (M·dy − Σ dy − x̂·Σ dy·x̂),
 *                           i.e. the gradient through the batch statistics as well.
 * Each reads its full-size inputs once or twice in place (SIMD module on the backend's memory);
 * per-channel coefficients are formed in float64. They are registered only for wasm, and only
 * when the SIMD module loads; otherwise the op uses its composite path.
 */
import * as tf from '@tensorflow/tfjs';
import { convSimd, simdKernelsUsable, type ConvSimd } from './simd-module.ts';
import { asWasmBackend, heapF32, heapOffset, type WasmBackendInternals } from './wasm-heap.ts';

export const BATCH_MOMENTS = 'BnlabBatchMoments';
export const BATCH_NORM_TRAIN_GRAD = 'BnlabBatchNormTrainGrad';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function simdOrThrow(backend: WasmBackendInternals): ConvSimd {
  const simd = convSimd(backend);
  if (!simd) throw new Error(`bnlab: ${BATCH_MOMENTS}/${BATCH_NORM_TRAIN_GRAD} need the SIMD module, which did not load`);
  return simd;
}

function rowsAndChannels(x: tf.TensorInfo): [number, number] {
  if (x.dtype !== 'float32' || x.shape.length < 2) throw new Error(`bnlab BatchNorm kernels: float32 input of rank ≥ 2 expected, got ${x.dtype} [${x.shape}]`);
  const channels = x.shape[x.shape.length - 1];
  return [tf.util.sizeFromShape(x.shape) / channels, channels];
}

function batchMoments(args: KernelArgs): tf.TensorInfo[] {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const backend = asWasmBackend(args.backend);
  const simd = simdOrThrow(backend);
  const [rows, channels] = rowsAndChannels(x);
  const mean = backend.makeOutput([channels], 'float32');
  const variance = backend.makeOutput([channels], 'float32');
  const acc = backend.wasm._malloc(channels * 8) >>> 0;
  try {
    const zero = () => new Float64Array(backend.wasm.HEAPF32.buffer, acc, channels).fill(0);
    zero();
    simd.column_sums(heapOffset(backend, x), acc, rows, channels);
    const sums = new Float64Array(backend.wasm.HEAPF32.buffer, acc, channels);
    const m = heapF32(backend, mean);
    for (let c = 0; c < channels; c++) m[c] = sums[c] / rows;
    zero();
    simd.column_centred_squares(heapOffset(backend, x), heapOffset(backend, mean), acc, rows, channels);
    const squares = new Float64Array(backend.wasm.HEAPF32.buffer, acc, channels);
    const v = heapF32(backend, variance);
    for (let c = 0; c < channels; c++) v[c] = squares[c] / rows;
  } finally {
    backend.wasm._free(acc);
  }
  return [mean, variance];
}

function batchNormTrainGrad(args: KernelArgs): tf.TensorInfo[] {
  const { x, dy, mean, variance, scale } = args.inputs as Record<string, tf.TensorInfo>;
  const { varianceEpsilon } = args.attrs as unknown as { varianceEpsilon: number };
  const backend = asWasmBackend(args.backend);
  const simd = simdOrThrow(backend);
  const [rows, channels] = rowsAndChannels(x);
  const dx = backend.makeOutput([...x.shape], 'float32');
  const dScale = backend.makeOutput([channels], 'float32');
  const dOffset = backend.makeOutput([channels], 'float32');
  // [sumDy | sumDyCentred] float64, then [kDy | kX | k1] float32, in one block.
  const block = backend.wasm._malloc(channels * (16 + 12)) >>> 0;
  const coefficients = block + channels * 16;
  try {
    new Float64Array(backend.wasm.HEAPF32.buffer, block, 2 * channels).fill(0);
    simd.batch_norm_grad_sums(heapOffset(backend, dy), heapOffset(backend, x), heapOffset(backend, mean), block, block + channels * 8, rows, channels);
    const sums = new Float64Array(backend.wasm.HEAPF32.buffer, block, 2 * channels);
    const k = new Float32Array(backend.wasm.HEAPF32.buffer, coefficients, 3 * channels);
    const v = heapF32(backend, variance);
    const g = heapF32(backend, scale);
    const ds = heapF32(backend, dScale);
    const doff = heapF32(backend, dOffset);
    for (let c = 0; c < channels; c++) {
      const r = 1 / Math.sqrt(v[c] + varianceEpsilon);
      const sumDy = sums[c];
      const sumDyCentred = sums[channels + c];
      const a = g[c] * r;
      k[c] = a; // kDy
      k[channels + c] = (-a * r * r * sumDyCentred) / rows; // kX
      k[2 * channels + c] = (-a * sumDy) / rows; // k1
      ds[c] = r * sumDyCentred;
      doff[c] = sumDy;
    }
    simd.batch_norm_grad_apply(heapOffset(backend, dy), heapOffset(backend, x), heapOffset(backend, mean),
      coefficients, coefficients + channels * 4, coefficients + channels * 8, heapOffset(backend, dx), rows, channels);
  } finally {
    backend.wasm._free(block);
  }
  return [dx, dScale, dOffset];
}

export const batchMomentsConfig: tf.KernelConfig = {
  kernelName: BATCH_MOMENTS,
  backendName: 'wasm',
  kernelFunc: batchMoments as unknown as tf.KernelFunc,
};

export const batchNormTrainGradConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAIN_GRAD,
  backendName: 'wasm',
  kernelFunc: batchNormTrainGrad as unknown as tf.KernelFunc,
};

/** True when the active backend can run both kernels (wasm with bnlab's kernels registered and the SIMD module loaded). */
export function batchNormTrainingKernelsUsable(): boolean {
  return simdKernelsUsable(BATCH_MOMENTS, BATCH_NORM_TRAIN_GRAD);
}
