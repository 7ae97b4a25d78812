/**
 * FusedBatchNorm (tf.batchNorm) forward on the tfjs wasm backend in one SIMD pass.
 *
 * y = (x − μ) · a + β with a = γ / √(σ² + ε), for per-channel μ, σ², γ, β over the last axis (the
 * BatchNormalization layer's case, in inference and training mode alike). The backend's own
 * kernel divides and takes a square root per element, which made it the most expensive kernel of
 * MobileNet inference (~40 % of it); here a is computed once per channel (in float64, rounded
 * once to float32). Any other shape or dtype goes to the backend's kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { convSimd } from './simd-module.ts';
import { asWasmBackend, heapF32, heapOffset } from './wasm-heap.ts';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** True when `t` is absent or holds one value per channel (shape [C] or [1, …, 1, C]). */
function perChannel(t: tf.TensorInfo | undefined, channels: number): boolean {
  if (!t) return true;
  return t.dtype === 'float32' && tf.util.sizeFromShape(t.shape) === channels && t.shape[t.shape.length - 1] === channels;
}

export function batchNormForwardConfig(original: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { x, mean, variance, offset, scale } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const { varianceEpsilon } = (args.attrs ?? {}) as unknown as { varianceEpsilon: number };
    const channels = x?.shape[x.shape.length - 1] ?? 0;
    const count = x ? tf.util.sizeFromShape(x.shape) : 0;
    if (
      x && mean && variance && x.dtype === 'float32' && x.shape.length >= 1 && channels > 0 && count > 0 &&
      [mean, variance, offset, scale].every((t) => perChannel(t, channels))
    ) {
      const backend = asWasmBackend(args.backend);
      const simd = convSimd(backend);
      if (simd) {
        const out = backend.makeOutput([...x.shape], 'float32');
        // [mean | a | offset] in one temporary block; views only after the last allocation.
        const temp = backend.wasm._malloc(3 * channels * 4) >>> 0;
        try {
          const block = new Float32Array(backend.wasm.HEAPF32.buffer, temp, 3 * channels);
          const m = heapF32(backend, mean);
          const v = heapF32(backend, variance);
          const g = scale ? heapF32(backend, scale) : null;
          const b = offset ? heapF32(backend, offset) : null;
          for (let c = 0; c < channels; c++) {
            block[c] = m[c];
            block[channels + c] = (g ? g[c] : 1) / Math.sqrt(v[c] + varianceEpsilon);
            block[2 * channels + c] = b ? b[c] : 0;
          }
          simd.batch_norm_apply(heapOffset(backend, x), temp, temp + channels * 4, temp + 2 * channels * 4,
            heapOffset(backend, out), count / channels, channels);
        } finally {
          backend.wasm._free(temp);
        }
        return out;
      }
    }
    return original.kernelFunc(args as never);
  };
  return { ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
