/**
 * ReLU6 activation layers that keep less for backprop.
 *
 * tfjs-layers' Activation('relu6') computes minimum(6, relu(x)): two kernels, and the gradient tape
 * keeps both x (for Relu) and relu(x) (for Minimum) — a full-size tensor more than needed per
 * layer; MobileNet v1 has one after every convolution. Here the same function
 *   y = min(max(x, 0), 6),   dx = dy · [0 < y < 6]
 * runs as one Relu6 kernel, and the tape keeps only y (which the next convolution keeps anyway).
 * The mask equals the gradient of tfjs's composite everywhere: 0 for x ≤ 0 (Relu's step(0) = 0)
 * and for x ≥ 6 (Minimum passes dy to relu(x) only where 6 > relu(x)). On wasm the backward is
 * one SIMD pass (kernels/relu6-grad.ts); elsewhere tf ops.
 */
import * as tf from '@tensorflow/tfjs';
import { RELU6_GRAD_FROM_OUTPUT, relu6GradKernelUsable } from '../kernels/relu6-grad.ts';
import { wrapLeafLayerCalls } from './wrap-layer-calls.ts';

const WRAPPED = Symbol.for('bnlab.leanRelu6');
type ActivationLayer = tf.layers.Layer & { activation?: { getClassName(): string } };

function gradFromOutput(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  if (relu6GradKernelUsable()) return tf.engine().runKernel(RELU6_GRAD_FROM_OUTPUT, { dy, y }) as tf.Tensor;
  return tf.mul(dy, tf.cast(tf.logicalAnd(tf.greater(y, 0), tf.less(y, 6)), 'float32'));
}

/** y = relu6(x) with the gradient computed from y (see above). */
export const relu6SavingOutput = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const y = tf.relu6(x);
  save([y]);
  return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [gradFromOutput(dy, saved[0])] };
}) as never) as (x: tf.Tensor) => tf.Tensor;

/**
 * Makes every Activation('relu6') leaf layer of `model` use relu6SavingOutput for float32 inputs.
 * Idempotent. Returns how many layers are wrapped in all.
 */
export function useLeanRelu6(model: tf.LayersModel): number {
  return wrapLeafLayerCalls(
    model,
    WRAPPED,
    (layer) => layer.getClassName() === 'Activation' && (layer as ActivationLayer).activation?.getClassName() === 'relu6',
    (x) => relu6SavingOutput(x),
  );
}
