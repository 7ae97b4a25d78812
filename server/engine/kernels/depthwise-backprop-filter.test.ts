import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { convGradients, depthwiseCases, describeMatchesCpu, finiteDifferences, maxRelativeError, seededInt, type ConvCase } from '../../../test/support/gradient-check.ts';

/** Random depthwise cases (gradient-check.ts), with this kernel's own seeds and filter sizes. */
const cases = () => depthwiseCases(1000, 17, (seed) => (seededInt(seed, 1, 3) === 2 ? 3 : seededInt(seed + 1, 1, 5)));

describe('DepthwiseConv2dNativeBackpropFilter on wasm', () => {
  describeMatchesCpu('DepthwiseConv2dNativeBackpropFilter', cases, 'dw', [
    ['SIMD wasm loops', true],
    ['typed-array loops', false],
  ]);

  it('agrees with central finite differences', async () => {
    const c: ConvCase = {
      xShape: [2, 7, 6, 5],
      wShape: [3, 3, 5, 1],
      conv: (x, f) => tf.depthwiseConv2d(x, f, 2, 'same'),
      seed: 77,
    };
    const analytic = await convGradients('wasm', c);
    const { numeric, analytic: exact } = await finiteDifferences(c, analytic, 'w', 8);
    expect(maxRelativeError(numeric, exact)).toBeLessThanOrEqual(1e-2);
  });

  it('refuses dilation other than 1 with a clear error', async () => {
    await convGradients('wasm', { xShape: [1, 4, 4, 1], wShape: [1, 1, 1, 1], conv: (x, f) => tf.depthwiseConv2d(x, f, 1, 'same'), seed: 1 });
    const x = tf.ones([1, 6, 6, 2]) as tf.Tensor4D;
    const f = tf.ones([3, 3, 2, 1]) as tf.Tensor4D;
    const dy = tf.ones([1, 6, 6, 2]) as tf.Tensor4D;
    expect(() =>
      tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, {
        strides: [1, 1], pad: 'same', dilations: [2, 2], filterShape: f.shape,
      } as never),
    ).toThrow(/dilation 2,2 is not supported/);
  });
});
