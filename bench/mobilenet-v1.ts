/**
 * MobileNet v1 built with tf.layers in the Keras Applications layout (Keras 2.1.4, the topology of
 * the shared `mobilenet_v1_0.25_224`), with seeded random weights: an architecture for timing at
 * widths and resolutions for which no pretrained tfjs file is at hand (α0.25@128, α1.0@224).
 *
 *   conv1: Conv2D 3x3/2 (int(32α)), BN, ReLU6
 *   13 blocks conv_dw_i: DepthwiseConv2D 3x3/s, BN, ReLU6; conv_pw_i: Conv2D 1x1 (int(fα)), BN, ReLU6
 *     (f, s) = (64,1) (128,2) (128,1) (256,2) (256,1) (512,2) (512,1)x5 (1024,2) (1024,1)
 *   top (optional): GAP, Reshape [1,1,C], Dropout, Conv2D 1x1 'conv_preds' (bias), softmax, Reshape
 *
 * Every convolution uses 'same' padding (TensorFlow semantics: a stride-2 layer on an even input
 * pads the extra row/column at the bottom/right), has no bias, and BN uses momentum 0.99 and
 * epsilon 1e-3 as in Keras. The backbone is cut at `conv_pw_13_relu`.
 */
import * as tf from '@tensorflow/tfjs';

export const MOBILENET_V1_CUT_LAYER = 'conv_pw_13_relu';

/** Pointwise filters (before the width multiplier) and depthwise stride of blocks 1..13. */
export const MOBILENET_V1_BLOCKS: ReadonlyArray<readonly [filters: number, stride: number]> = [
  [64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2],
  [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1],
];

export interface MobileNetV1Options {
  /** width multiplier α: every layer has int(filters * α) channels (Keras rounding) */
  alpha: number;
  /** square input side in pixels */
  inputSize: number;
  /** seed of the first initialiser; each weight layer takes the next integer */
  seed: number;
  /** add the Keras classifier top (GAP, dropout, 1x1 conv_preds, softmax) */
  includeTop?: boolean;
  /** classes of the Keras top (default 1000) */
  classes?: number;
}

export function buildMobileNetV1(opts: MobileNetV1Options): tf.LayersModel {
  const { alpha, inputSize, includeTop = false, classes = 1000 } = opts;
  if (!(alpha > 0)) throw new RangeError(`alpha must be > 0, got ${alpha}`);
  if (!Number.isInteger(inputSize) || inputSize < 32) throw new RangeError(`inputSize must be an integer >= 32, got ${inputSize}`);
  let seed = opts.seed;
  const init = () => tf.initializers.glorotUniform({ seed: seed++ });
  const width = (filters: number) => Math.trunc(filters * alpha);

  const bnRelu6 = (x: tf.SymbolicTensor, name: string): tf.SymbolicTensor => {
    const normalised = tf.layers.batchNormalization({ name: `${name}_bn`, momentum: 0.99, epsilon: 1e-3 }).apply(x) as tf.SymbolicTensor;
    return tf.layers.activation({ activation: 'relu6', name: `${name}_relu` }).apply(normalised) as tf.SymbolicTensor;
  };

  const input = tf.input({ shape: [inputSize, inputSize, 3], name: 'input_1' });
  let x = tf.layers
    .conv2d({ name: 'conv1', filters: width(32), kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: init() })
    .apply(input) as tf.SymbolicTensor;
  x = bnRelu6(x, 'conv1');
  MOBILENET_V1_BLOCKS.forEach(([filters, stride], i) => {
    const id = i + 1;
    x = tf.layers
      .depthwiseConv2d({
        name: `conv_dw_${id}`,
        kernelSize: 3,
        strides: stride,
        padding: 'same',
        depthMultiplier: 1,
        useBias: false,
        depthwiseInitializer: init(),
      })
      .apply(x) as tf.SymbolicTensor;
    x = bnRelu6(x, `conv_dw_${id}`);
    x = tf.layers
      .conv2d({ name: `conv_pw_${id}`, filters: width(filters), kernelSize: 1, strides: 1, padding: 'same', useBias: false, kernelInitializer: init() })
      .apply(x) as tf.SymbolicTensor;
    x = bnRelu6(x, `conv_pw_${id}`);
  });

  if (includeTop) {
    const channels = width(1024);
    x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d_1' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reshape({ targetShape: [1, 1, channels], name: 'reshape_1' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dropout({ rate: 1e-3, name: 'dropout' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .conv2d({ name: 'conv_preds', filters: classes, kernelSize: 1, padding: 'same', useBias: true, kernelInitializer: init() })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'softmax', name: 'act_softmax' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reshape({ targetShape: [classes], name: 'reshape_2' }).apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x, name: `mobilenet_${alpha}_${inputSize}` });
}
