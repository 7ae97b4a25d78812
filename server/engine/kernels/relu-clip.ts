/**
 * A ReLU(max_value) layer's two ops as one kernel each way (engine/ops/relu-max-activation.ts):
 *   BnlabReluClip      x → clip(relu(x), 0, hi)            (tfjs-layers runs relu, then clipByValue)
 *   BnlabReluClipGrad  dy, x → the chained gradient of both (clip's where(), then relu's dy · step(x))
 * with those ops' exact values, signed zeros and NaNs included (relu-max-activation.test.ts).
 * Registered for wasm; usable only when the SIMD module loads.
 */
import * as tf from '@tensorflow/tfjs';
import { convSimd } from './simd-module.ts';
import { asWasmBackend, heapOffset } from './wasm-heap.ts';

export const RELU_CLIP = 'BnlabReluClip';
export const RELU_CLIP_GRAD = 'BnlabReluClipGrad';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function checked(name: string, args: KernelArgs, tensors: tf.TensorInfo[]) {
  const backend = asWasmBackend(args.backend);
  const simd = convSimd(backend);
  if (!simd || tensors.some((t) => t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, tensors[0].shape))) {
    throw new Error(`bnlab: ${name} needs float32 inputs of one shape and the SIMD module`);
  }
  const { maxValue } = args.attrs as unknown as { maxValue: number };
  const out = backend.makeOutput([...tensors[0].shape], 'float32');
  return { backend, simd, maxValue, out, count: tf.util.sizeFromShape(tensors[0].shape) };
}

export const reluClipConfig: tf.KernelConfig = {
  kernelName: RELU_CLIP,
  backendName: 'wasm',
  kernelFunc: ((args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { backend, simd, maxValue, out, count } = checked(RELU_CLIP, args, [x]);
    simd.relu_clip(heapOffset(backend, x), heapOffset(backend, out), count, maxValue);
    return out;
  }) as unknown as tf.KernelFunc,
};

export const reluClipGradConfig: tf.KernelConfig = {
  kernelName: RELU_CLIP_GRAD,
  backendName: 'wasm',
  kernelFunc: ((args: KernelArgs) => {
    const { dy, x } = args.inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
    const { backend, simd, maxValue, out, count } = checked(RELU_CLIP_GRAD, args, [x, dy]);
    simd.relu_clip_grad(heapOffset(backend, dy), heapOffset(backend, x), heapOffset(backend, out), count, maxValue);
    return out;
  }) as unknown as tf.KernelFunc,
};

/** True when the active backend can run both kernels. */
export function reluClipKernelsUsable(): boolean {
  if (tf.getBackend() !== 'wasm' || !tf.getKernel(RELU_CLIP, 'wasm') || !tf.getKernel(RELU_CLIP_GRAD, 'wasm')) return false;
  return convSimd(asWasmBackend(tf.backend())) !== null;
}
