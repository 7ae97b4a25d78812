/**
 * Faster elementwise ops on the tfjs wasm backend when one operand is broadcast along the last axis:
 * full ∘ v or v ∘ full, with full [..., C] and v a scalar or a per-channel vector [C] / [1, …, 1, C].
 *
 * This is the shape of BatchNorm (x − μ, dy · r·γ) and of ReLU6 (minimum(6, x) and its gradient's
 * greater(6, x)), which the backend's generic broadcasting loops run 7–20× slower than same-shape
 * ops. Ops: Add, Sub, Multiply, RealDiv, Minimum, Maximum (float32 out) and Greater, GreaterEqual,
 * Less, LessEqual (bool out), in SIMD wasm (simd/conv.c). Any other case goes to the backend's kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { convSimd } from './simd-module.ts';
import { asWasmBackend, heapOffset } from './wasm-heap.ts';

/** Kernel name → operation code in simd/conv.c's binary_broadcast. */
export const BROADCAST_OPS: Record<string, number> = {
  Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Minimum: 4, Maximum: 5,
  Greater: 6, GreaterEqual: 7, Less: 8, LessEqual: 9,
};
const FIRST_COMPARISON = 6;

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/** The number of channels `small` broadcasts over in `full` (1 for a scalar), or null if it does not. */
export function lastAxisBroadcast(full: number[], small: number[]): number | null {
  if (full.length === 0 || small.length > full.length) return null;
  const size = tf.util.sizeFromShape(small);
  if (size === 1) return 1;
  const channels = full[full.length - 1];
  if (small[small.length - 1] !== channels || size !== channels) return null;
  return channels;
}

export function broadcastBinaryConfig(original: tf.KernelConfig): tf.KernelConfig {
  const op = BROADCAST_OPS[original.kernelName];
  const kernelFunc = (args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype === 'float32' && b.dtype === 'float32') {
      const aIsFull = tf.util.sizeFromShape(a.shape) >= tf.util.sizeFromShape(b.shape);
      const full = aIsFull ? a : b;
      const small = aIsFull ? b : a;
      const channels = lastAxisBroadcast(full.shape, small.shape);
      const count = tf.util.sizeFromShape(full.shape);
      // Same-shape operands are already fast in the backend; only take genuine broadcasts.
      if (channels !== null && count > 0 && tf.util.sizeFromShape(small.shape) < count) {
        const backend = asWasmBackend(args.backend);
        const simd = convSimd(backend);
        if (simd) {
          const out = backend.makeOutput([...full.shape], op >= FIRST_COMPARISON ? 'bool' : 'float32');
          simd.binary_broadcast(op, heapOffset(backend, full), heapOffset(backend, small), heapOffset(backend, out),
            count / channels, channels, aIsFull ? 0 : 1);
          return out;
        }
      }
    }
    return original.kernelFunc(args as never);
  };
  return { ...original, kernelFunc: kernelFunc as unknown as tf.KernelFunc };
}
