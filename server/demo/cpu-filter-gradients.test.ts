import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from './synthetic.ts';
import { useFlatFilterGradientsOnCpu } from './cpu-filter-gradients.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function randomTensor(shape: number[], rng: () => number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => 2 * rng() - 1), shape);
}

function maxRelativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().div(b.abs().max().add(1e-12)).dataSync()[0]);
}

const cases = [
  { x: [2, 7, 7, 3], k: 3, out: 5, stride: 1, pad: 'same' },
  { x: [2, 8, 8, 4], k: 3, out: 6, stride: 2, pad: 'same' },
  { x: [1, 9, 8, 2], k: 3, out: 3, stride: 2, pad: 'valid' },
  { x: [3, 6, 6, 5], k: 1, out: 7, stride: 1, pad: 'valid' },
  { x: [2, 5, 6, 3], k: 2, out: 4, stride: 1, pad: 'valid' },
] as const;

describe('flat filter-gradient kernels for the cpu backend', () => {
  it('match the built-in Conv2DBackpropFilter and DepthwiseConv2dNativeBackpropFilter', () => {
    const rng = createRng(11);
    for (const c of cases) {
      const x = randomTensor([...c.x], rng) as tf.Tensor4D;
      const inChannels = c.x[3];
      const conv = (filter: tf.Tensor) => tf.conv2d(x, filter as tf.Tensor4D, c.stride, c.pad).square().sum();
      const depthwise = (filter: tf.Tensor) => tf.depthwiseConv2d(x, filter as tf.Tensor4D, c.stride, c.pad).square().sum();
      const convFilter = randomTensor([c.k, c.k, inChannels, c.out], rng) as tf.Tensor4D;
      const depthwiseFilter = randomTensor([c.k, c.k, inChannels, 2], rng) as tf.Tensor4D;

      const builtIn = [tf.grad(conv)(convFilter), tf.grad(depthwise)(depthwiseFilter)];
      const restore = useFlatFilterGradientsOnCpu();
      let flat: tf.Tensor[];
      try {
        flat = [tf.grad(conv)(convFilter), tf.grad(depthwise)(depthwiseFilter)];
      } finally {
        restore();
      }
      expect(flat[0].shape).toEqual(builtIn[0].shape);
      expect(flat[1].shape).toEqual(builtIn[1].shape);
      expect(maxRelativeError(flat[0], builtIn[0])).toBeLessThan(1e-5);
      expect(maxRelativeError(flat[1], builtIn[1])).toBeLessThan(1e-5);
      tf.dispose([x, convFilter, depthwiseFilter, ...builtIn, ...flat]);
    }
  });

  it('restores the built-in kernels', () => {
    const before = tf.getKernel('Conv2DBackpropFilter', 'cpu')!.kernelFunc;
    useFlatFilterGradientsOnCpu()();
    expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')!.kernelFunc).toBe(before);
  });
});
