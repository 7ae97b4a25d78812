/**
 * Faster Sum and Mean over all leading axes (e.g. axes [0, 1, 2] of NHWC) on the tfjs wasm backend.
 *
 * out[c] = Σ_{i} x[i, c] (Sum) or that divided by the row count (Mean), x viewed as [rows, C].
 * These are BatchNorm's reductions: batch statistics forward and the γ/β/μ/σ² gradients backward.
 * The backend's kernels first transpose the whole tensor so the reduced axes are innermost; the
 * SIMD column sums (simd/conv.c) read it once, in place, accumulating in float64. Every other
 * reduction, and any case without the SIMD module, goes to the backend's original kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { convSimd } from './simd-module.ts';
import { asWasmBackend, heapF32, heapOffset } from './wasm-heap.ts';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** True when `axis` names exactly the axes 0 … rank−2 of `shape` (and rank ≥ 2). */
export function reducesLeadingAxes(axis: number | number[], shape: number[]): boolean {
  if (shape.length < 2) return false;
  const axes = [...new Set(tf.util.parseAxisParam(axis, shape))].sort((a, b) => a - b);
  return axes.length === shape.length - 1 && axes.every((a, i) => a === i);
}

function leadingAxesReduction(original: tf.KernelConfig, divideByCount: boolean): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const backend = asWasmBackend(args.backend);
    const simd = x.dtype === 'float32' && reducesLeadingAxes(axis, x.shape) ? convSimd(backend) : null;
    const channels = x.shape[x.shape.length - 1];
    const rows = tf.util.sizeFromShape(x.shape) / Math.max(channels, 1);
    if (!simd || rows === 0 || channels === 0) return original.kernelFunc(args as never);

    const outShape = keepDims ? [...x.shape.slice(0, -1).map(() => 1), channels] : [channels];
    const out = backend.makeOutput(outShape, 'float32');
    const accPointer = backend.wasm._malloc(channels * 8) >>> 0;
    try {
      new Float64Array(backend.wasm.HEAPF32.buffer, accPointer, channels).fill(0);
      simd.column_sums(heapOffset(backend, x), accPointer, rows, channels);
      const acc = new Float64Array(backend.wasm.HEAPF32.buffer, accPointer, channels);
      const result = heapF32(backend, out);
      for (let c = 0; c < channels; c++) result[c] = divideByCount ? acc[c] / rows : acc[c];
    } finally {
      backend.wasm._free(accPointer);
    }
    return out;
  };
  return { ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}

/** Wraps the wasm backend's Sum kernel with the leading-axes fast path. */
export function leadingAxesSumConfig(original: tf.KernelConfig): tf.KernelConfig {
  return leadingAxesReduction(original, false);
}

/** Wraps the wasm backend's Mean kernel with the leading-axes fast path. */
export function leadingAxesMeanConfig(original: tf.KernelConfig): tf.KernelConfig {
  return leadingAxesReduction(original, true);
}
