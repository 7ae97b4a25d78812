/**
 * One-pass gradients of ReLU and clip (ReLU(max_value) layers, e.g. MobileNetV2's ReLU(6.), run
 * relu then clipByValue). tfjs-core builds them from 2 ops (Relu: step, then a product) and 5 ops
 * (ClipByValue: greaterEqual, lessEqual, logicalAnd, zerosLike, where); on wasm those took about
 * half of a MobileNetV2 train-bn step, LogicalAnd alone a quarter. Here each is one SIMD pass
 * (simd/conv.c clip_grad, relu_grad) with tfjs's exact values: the same mask bounds (inclusive for
 * clip), +0 outside the clip range, dy · 0 = ±0 and NaN for NaN inputs in relu's product
 * (activation-grads.test.ts compares them with tfjs's own gradients). The gradient configs are
 * registered for every backend and use tfjs's own gradient wherever the kernels cannot run.
 */
import * as tf from '@tensorflow/tfjs';
import { elementwiseKernelConfig } from './elementwise-kernel.ts';
import { simdKernelsUsable } from './simd-module.ts';

export const CLIP_GRAD = 'BnlabClipByValueGrad';
export const RELU_GRAD = 'BnlabReluGrad';

export const clipGradConfig = elementwiseKernelConfig(CLIP_GRAD, ['dy', 'x'], (simd, [dy, x, dx], count, attrs) => {
  const { clipValueMin, clipValueMax } = attrs as unknown as { clipValueMin: number; clipValueMax: number };
  simd.clip_grad(dy, x, dx, count, clipValueMin, clipValueMax);
});

export const reluGradConfig = elementwiseKernelConfig(RELU_GRAD, ['dy', 'x'], (simd, [dy, x, dx], count) => simd.relu_grad(dy, x, dx, count));

/** Whether the active backend runs `kernelName` for these operands (wasm, SIMD module, float32 of one shape). */
function usable(kernelName: string, dy: tf.Tensor, x: tf.Tensor): boolean {
  return dy.dtype === 'float32' && x.dtype === 'float32' && tf.util.arraysEqual(dy.shape, x.shape) && simdKernelsUsable(kernelName);
}

/**
 * Gradient configs for ClipByValue and Relu that run the kernels above where usable and tfjs's own
 * gradient (`original`, as registered before bnlab's) elsewhere.
 */
export function activationGradConfigs(original: { clip: tf.GradConfig; relu: tf.GradConfig }): tf.GradConfig[] {
  return [
    {
      ...original.clip,
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved;
        const d = dy as tf.Tensor;
        if (!usable(CLIP_GRAD, d, x)) return original.clip.gradFunc(dy, saved, attrs);
        return { x: () => tf.engine().runKernel(CLIP_GRAD, { dy: d, x }, attrs) as tf.Tensor };
      },
    },
    {
      ...original.relu,
      gradFunc: (dy, saved, attrs) => {
        const [x] = saved;
        const d = dy as tf.Tensor;
        if (!usable(RELU_GRAD, d, x)) return original.relu.gradFunc(dy, saved, attrs);
        return { x: () => tf.engine().runKernel(RELU_GRAD, { dy: d, x }) as tf.Tensor };
      },
    },
  ];
}
