/**
 * The embedded demo backbone: a MobileNet-v1-shaped convnet small enough to train with the tfjs cpu
 * backend on two cores in a few minutes and to commit (about 35 k parameters, ~150 KB of float32).
 * It downsamples early (stride 2 in the stem and block 1) because on the cpu backend the cost of a
 * training step follows the activation sizes, and 16x16 is plenty for 64x64 shapes.
 *
 *   input 64x64x3, pixels scaled to [-1, 1]
 *   stem:   Conv2D 3x3/2 (16)                      -> 32x32
 *   block1: depthwise 3x3/2, pointwise 1x1 (32)    -> 16x16
 *   block2: depthwise 3x3/1, pointwise 1x1 (64)    -> 16x16
 *   block3: depthwise 3x3/2, pointwise 1x1 (96)    -> 8x8
 *   block4: depthwise 3x3/1, pointwise 1x1 (96)    -> 8x8
 *   block5: depthwise 3x3/2, pointwise 1x1 (128)   -> 4x4
 *   global average pooling, Dense softmax 'demo_classifier'
 *
 * Every convolution has no bias and is followed by BatchNormalization then ReLU, as in MobileNet;
 * layer names say where they are ('block2_dw_bn', 'block2_pw_relu', ...). Initialisers are seeded,
 * so the same seed gives the same initial weights.
 */
import * as tf from '@tensorflow/tfjs';

export const DEMO_INPUT_SIZE = 64;
export const DEMO_CLASSIFIER_NAME = 'demo_classifier';
export const DEMO_POOL_NAME = 'global_pool';

/** Pointwise widths of blocks 1..5 and their depthwise strides. */
const BLOCKS: ReadonlyArray<{ filters: number; stride: number }> = [
  { filters: 32, stride: 2 },
  { filters: 64, stride: 1 },
  { filters: 96, stride: 2 },
  { filters: 96, stride: 1 },
  { filters: 128, stride: 2 },
];
export const DEMO_STEM_FILTERS = 16;

/** Name of the last activation before pooling: where bnlab cuts the backbone to add its own head. */
export const DEMO_CUT_LAYER = `block${BLOCKS.length}_pw_relu`;

export interface DemoBackboneOptions {
  numClasses: number;
  seed: number;
  /** Keras convention: weight of the old running value. */
  bnMomentum?: number;
}

export function buildDemoBackbone({ numClasses, seed, bnMomentum = 0.99 }: DemoBackboneOptions): tf.LayersModel {
  let initSeed = seed;
  const nextSeed = () => initSeed++;
  const bnRelu = (x: tf.SymbolicTensor, prefix: string): tf.SymbolicTensor => {
    const normalised = tf.layers.batchNormalization({ name: `${prefix}_bn`, momentum: bnMomentum, epsilon: 1e-3 }).apply(x);
    return tf.layers.reLU({ name: `${prefix}_relu` }).apply(normalised) as tf.SymbolicTensor;
  };

  const input = tf.input({ shape: [DEMO_INPUT_SIZE, DEMO_INPUT_SIZE, 3], name: 'image' });
  let x = tf.layers
    .conv2d({
      name: 'stem_conv',
      filters: DEMO_STEM_FILTERS,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      kernelInitializer: tf.initializers.heNormal({ seed: nextSeed() }),
    })
    .apply(input) as tf.SymbolicTensor;
  x = bnRelu(x, 'stem');

  BLOCKS.forEach(({ filters, stride }, i) => {
    const block = `block${i + 1}`;
    x = tf.layers
      .depthwiseConv2d({
        name: `${block}_dw`,
        kernelSize: 3,
        strides: stride,
        padding: 'same',
        useBias: false,
        depthwiseInitializer: tf.initializers.heNormal({ seed: nextSeed() }),
      })
      .apply(x) as tf.SymbolicTensor;
    x = bnRelu(x, `${block}_dw`);
    x = tf.layers
      .conv2d({
        name: `${block}_pw`,
        filters,
        kernelSize: 1,
        padding: 'same',
        useBias: false,
        kernelInitializer: tf.initializers.heNormal({ seed: nextSeed() }),
      })
      .apply(x) as tf.SymbolicTensor;
    x = bnRelu(x, `${block}_pw`);
  });

  const pooled = tf.layers.globalAveragePooling2d({ name: DEMO_POOL_NAME }).apply(x) as tf.SymbolicTensor;
  const output = tf.layers
    .dense({
      name: DEMO_CLASSIFIER_NAME,
      units: numClasses,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: nextSeed() }),
    })
    .apply(pooled) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name: 'bnlab_demo_backbone' });
}
