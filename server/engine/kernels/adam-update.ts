/**
 * BnlabAdamUpdate: one Adam step of one variable as one wasm kernel (simd/conv.c `adam_update`)
 * instead of the ~12 tfjs ops (and as many tensors) AdamOptimizer runs per variable per step.
 * Same op order and float32 roundings as tfjs's AdamOptimizer, so the results are bit-identical
 * (adam-update.test.ts); train/fused-adam.ts uses it on wasm with the SIMD module.
 *
 *   inputs value, gradient, m, v (float32, one shape); attrs beta1, beta2, epsilon, learningRate,
 *   c1 = 1 − β1^t, c2 = 1 − β2^t (float32 values, as tfjs computes them)  →  [value', m', v']
 */
import * as tf from '@tensorflow/tfjs';
import { convSimd, simdKernelsUsable } from './simd-module.ts';
import { asWasmBackend, heapOffset } from './wasm-heap.ts';

export const ADAM_UPDATE = 'BnlabAdamUpdate';

export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  c1: number;
  c2: number;
}

function adamUpdate(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo[] {
  const { value, gradient, m, v } = args.inputs as Record<string, tf.TensorInfo>;
  const { beta1, beta2, epsilon, learningRate, c1, c2 } = args.attrs as unknown as AdamUpdateAttrs;
  const backend = asWasmBackend(args.backend);
  const simd = convSimd(backend);
  if (!simd) throw new Error(`bnlab: ${ADAM_UPDATE} needs the SIMD module, which did not load`);
  for (const t of [value, gradient, m, v]) {
    if (t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, value.shape)) {
      throw new Error(`bnlab ${ADAM_UPDATE}: float32 inputs of one shape expected, got ${t.dtype} [${t.shape}] for [${value.shape}]`);
    }
  }
  const outputs = [value, m, v].map(() => backend.makeOutput([...value.shape], 'float32'));
  const [wOut, mOut, vOut] = outputs.map((t) => heapOffset(backend, t));
  simd.adam_update(
    heapOffset(backend, value), heapOffset(backend, gradient), heapOffset(backend, m), heapOffset(backend, v), wOut, mOut, vOut,
    tf.util.sizeFromShape(value.shape), beta1, 1 - beta1, beta2, 1 - beta2, c1, c2, epsilon, -learningRate,
  );
  return outputs;
}

export const adamUpdateConfig: tf.KernelConfig = {
  kernelName: ADAM_UPDATE,
  backendName: 'wasm',
  kernelFunc: adamUpdate as unknown as tf.KernelFunc,
};

/** True when the active backend runs the kernel (wasm, bnlab's kernels registered, SIMD module loaded). */
export function adamUpdateUsable(): boolean {
  return simdKernelsUsable(ADAM_UPDATE);
}
