/**
 * A ReLU(max_value) layer's two ops as one kernel each way (engine/ops/relu-max-activation.ts):
 *   BnlabReluClip      x → clip(relu(x), 0, hi)            (tfjs-layers runs relu, then clipByValue)
 *   BnlabReluClipGrad  dy, x → the chained gradient of both (clip's where(), then relu's dy · step(x))
 * with those ops' exact values, signed zeros and NaNs included (relu-max-activation.test.ts).
 * Registered for wasm (attr maxValue = hi); usable only when the SIMD module loads.
 */
import { elementwiseKernelConfig } from './elementwise-kernel.ts';
import { simdKernelsUsable } from './simd-module.ts';

export const RELU_CLIP = 'BnlabReluClip';
export const RELU_CLIP_GRAD = 'BnlabReluClipGrad';

const maxValueOf = (attrs: object) => (attrs as { maxValue: number }).maxValue;

export const reluClipConfig = elementwiseKernelConfig(RELU_CLIP, ['x'], (simd, [x, y], count, attrs) =>
  simd.relu_clip(x, y, count, maxValueOf(attrs)),
);

export const reluClipGradConfig = elementwiseKernelConfig(RELU_CLIP_GRAD, ['dy', 'x'], (simd, [dy, x, dx], count, attrs) =>
  simd.relu_clip_grad(dy, x, dx, count, maxValueOf(attrs)),
);

/** True when the active backend can run both kernels. */
export function reluClipKernelsUsable(): boolean {
  return simdKernelsUsable(RELU_CLIP, RELU_CLIP_GRAD);
}
