/**
 * BnlabRelu6GradFromOutput (wasm): dx = dy where 0 < y < 6, else 0, for y = relu6(x) — ReLU6's
 * gradient computed from the op's output in one SIMD pass (see engine/relu6-activation.ts for why
 * the output rather than the input). Registered for wasm; usable only when the SIMD module loads.
 */
import { elementwiseKernelConfig } from './elementwise-kernel.ts';
import { simdKernelsUsable } from './simd-module.ts';

export const RELU6_GRAD_FROM_OUTPUT = 'BnlabRelu6GradFromOutput';

export const relu6GradFromOutputConfig = elementwiseKernelConfig(RELU6_GRAD_FROM_OUTPUT, ['dy', 'y'], (simd, [dy, y, dx], count) =>
  simd.relu6_grad_from_output(dy, y, dx, count),
);

/** True when the active backend can run the kernel. */
export function relu6GradKernelUsable(): boolean {
  return simdKernelsUsable(RELU6_GRAD_FROM_OUTPUT);
}
