/**
 * Conv2D layers whose backprop computes only the gradients the step needs.
 *
 * tfjs-layers' Conv2D calls `tf.fused.conv2d`, and with a linear activation (MobileNet's case:
 * BN and ReLU are separate layers) that op is a customGrad which, whenever it is on the gradient
 * path, computes BOTH ∂x (Conv2DBackpropInput) and ∂W (Conv2DBackpropFilter). With a frozen
 * backbone (train-bn) every frozen pointwise filter gradient is computed and thrown away; in a
 * full fine-tune the first layer's input gradient is. The plain `tf.conv2d` has per-input lazy
 * gradients: the tape prunes inputs that are not a function of the variables being differentiated.
 *
 * While gradients are being recorded, a wrapped layer computes the same function with plain ops,
 *   y = activation(conv2d(x, W, strides, padding, NHWC, dilation) + b)
 * (b only with useBias; x cast to float32 as the layer does), which is exactly what
 * `tf.fused.conv2d` itself falls back to for non-linear activations while recording gradients.
 * Outside gradient recording (inference) the layer's own fused call runs unchanged. Only
 * channels-last 2-D Conv2D layers with 'same'/'valid' padding are wrapped; others keep their call.
 */
import * as tf from '@tensorflow/tfjs';
import { leafLayers } from '../../model/layers.ts';

type CallFn = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

/** The Conv2D internals the plain-op call reads (tfjs-layers 4.22). */
interface Conv2DInternals {
  rank: number;
  kernel: { read(): tf.Tensor };
  bias: { read(): tf.Tensor } | null;
  strides: [number, number];
  padding: string;
  dataFormat: string;
  dilationRate: number | [number, number];
  activation: { apply(x: tf.Tensor): tf.Tensor } | null;
}

const WRAPPED = Symbol.for('bnlab.lazyConvGradients');
type WrappableLayer = tf.layers.Layer & { call: CallFn; [WRAPPED]?: CallFn };

/** True while the engine records operations for a gradient (tf.grads, optimizer.minimize, fit). */
function recordingGradients(): boolean {
  return (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;
}

function wrappable(layer: tf.layers.Layer): boolean {
  if (layer.getClassName() !== 'Conv2D') return false;
  const conv = layer as unknown as Conv2DInternals;
  return conv.rank === 2 && conv.dataFormat === 'channelsLast' && (conv.padding === 'same' || conv.padding === 'valid');
}

function plainConvCall(conv: Conv2DInternals, inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return tf.tidy(() => {
    if (Array.isArray(inputs) && inputs.length !== 1) throw new Error(`Conv2D expects exactly one input, got ${inputs.length}`);
    let x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (x.dtype !== 'float32') x = tf.cast(x, 'float32');
    let y: tf.Tensor = tf.conv2d(x as tf.Tensor4D, conv.kernel.read() as tf.Tensor4D, conv.strides, conv.padding as 'same' | 'valid', 'NHWC', conv.dilationRate);
    if (conv.bias) y = tf.add(y, conv.bias.read());
    return conv.activation ? conv.activation.apply(y) : y;
  });
}

/**
 * Makes every eligible Conv2D leaf layer of `model` compute only the needed gradients while
 * gradients are recorded (see above). Idempotent. Returns how many layers are wrapped in all.
 */
export function useLazyConvGradients(model: tf.LayersModel): number {
  let wrapped = 0;
  for (const layer of leafLayers(model) as WrappableLayer[]) {
    if (!wrappable(layer)) continue;
    wrapped++;
    if (layer[WRAPPED]) continue;
    const original = layer.call.bind(layer) as CallFn;
    layer[WRAPPED] = original;
    const conv = layer as unknown as Conv2DInternals;
    layer.call = (inputs, kwargs) => (recordingGradients() ? plainConvCall(conv, inputs) : original(inputs, kwargs));
  }
  return wrapped;
}
