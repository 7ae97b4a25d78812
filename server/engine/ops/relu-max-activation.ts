/**
 * ReLU(max_value) layers (MobileNetV2's ReLU(6.)) as one op. tfjs-layers runs relu, then
 * clipByValue(0, max): two passes forward, two gradients back, and the tape keeps both x and
 * relu(x). On wasm with the SIMD module this runs as one kernel each way (kernels/relu-clip.ts)
 * keeping only x, with the two ops' exact values; elsewhere the layer is left as it is.
 */
import * as tf from '@tensorflow/tfjs';
import { RELU_CLIP, RELU_CLIP_GRAD, reluClipKernelsUsable } from '../kernels/relu-clip.ts';
import { wrapLeafLayerCalls } from './wrap-layer-calls.ts';

const WRAPPED = Symbol.for('bnlab.leanReluMax');
type ReluLayer = tf.layers.Layer & { maxValue?: number | null };

/** clip(relu(x), 0, maxValue) with its gradient computed from x in one kernel (wasm only). */
export function reluClipSavingInput(x: tf.Tensor, maxValue: number): tf.Tensor {
  const attrs = { maxValue } as unknown as tf.NamedAttrMap;
  return tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    save([input]);
    return {
      value: tf.engine().runKernel(RELU_CLIP, { x: input }, attrs) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.engine().runKernel(RELU_CLIP_GRAD, { dy, x: saved[0] }, attrs) as tf.Tensor],
    };
  }) as never)(x) as tf.Tensor;
}

/**
 * Makes every ReLU layer of `model` with a max_value use reluClipSavingInput for float32 inputs on
 * a backend that runs the kernels (checked per call). Idempotent. Returns how many layers are wrapped.
 */
export function useLeanReluMax(model: tf.LayersModel): number {
  const maxValue = (layer: tf.layers.Layer) => (layer as ReluLayer).maxValue;
  return wrapLeafLayerCalls(
    model,
    WRAPPED,
    (layer) => layer.getClassName() === 'ReLU' && maxValue(layer) != null,
    (x, layer) => (reluClipKernelsUsable() ? reluClipSavingInput(x, maxValue(layer)!) : null),
  );
}
