import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { useLeanTraining } from './lean-training.ts';

describe('useLeanTraining', () => {
  it('wraps Conv2D and relu6 layers (nested ones too), once', async () => {
    await tf.setBackend('cpu');
    const inner = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 6, 3], filters: 4, kernelSize: 1 }),
        tf.layers.activation({ activation: 'relu6' }),
        tf.layers.depthwiseConv2d({ kernelSize: 3 }),
        tf.layers.activation({ activation: 'relu' }),
      ],
    });
    const outer = tf.sequential({ layers: [inner, tf.layers.conv2d({ filters: 2, kernelSize: 1 }), tf.layers.activation({ activation: 'relu6' })] });
    expect(useLeanTraining(outer)).toEqual({ lazyConvLayers: 2, leanRelu6Layers: 2, leanReluMaxLayers: 0 });
    expect(useLeanTraining(outer)).toEqual({ lazyConvLayers: 2, leanRelu6Layers: 2, leanReluMaxLayers: 0 });
    const y = outer.predict(tf.ones([1, 6, 6, 3])) as tf.Tensor;
    expect(y.shape).toEqual([1, 4, 4, 2]);
    y.dispose();
    outer.dispose();
  });
});
