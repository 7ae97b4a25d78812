/**
 * BnlabRelu6GradFromOutput (wasm): dx = dy where 0 < y < 6, else 0, for y = relu6(x) — ReLU6's
 * gradient computed from the op's output in one SIMD pass (see engine/relu6-activation.ts for why
 * the output rather than the input). Registered for wasm; usable only when the SIMD module loads.
 */
import * as tf from '@tensorflow/tfjs';
import { convSimd } from './simd-module.ts';
import { asWasmBackend, heapOffset } from './wasm-heap.ts';

export const RELU6_GRAD_FROM_OUTPUT = 'BnlabRelu6GradFromOutput';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown };

function relu6GradFromOutput(args: KernelArgs): tf.TensorInfo {
  const { dy, y } = args.inputs as { dy: tf.TensorInfo; y: tf.TensorInfo };
  const backend = asWasmBackend(args.backend);
  const simd = convSimd(backend);
  if (!simd || dy.dtype !== 'float32' || y.dtype !== 'float32') throw new Error(`bnlab: ${RELU6_GRAD_FROM_OUTPUT} needs float32 inputs and the SIMD module`);
  const dx = backend.makeOutput([...y.shape], 'float32');
  simd.relu6_grad_from_output(heapOffset(backend, dy), heapOffset(backend, y), heapOffset(backend, dx), tf.util.sizeFromShape(y.shape));
  return dx;
}

export const relu6GradFromOutputConfig: tf.KernelConfig = {
  kernelName: RELU6_GRAD_FROM_OUTPUT,
  backendName: 'wasm',
  kernelFunc: relu6GradFromOutput as unknown as tf.KernelFunc,
};

/** True when the active backend can run the kernel. */
export function relu6GradKernelUsable(): boolean {
  if (tf.getBackend() !== 'wasm' || !tf.getKernel(RELU6_GRAD_FROM_OUTPUT, 'wasm')) return false;
  return convSimd(asWasmBackend(tf.backend())) !== null;
}
