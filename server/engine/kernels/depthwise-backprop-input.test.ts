import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { convGradients, depthwiseCases, describeMatchesCpu, finiteDifferences, maxRelativeError, seededInt, type ConvCase } from '../../../test/support/gradient-check.ts';

/** Random depthwise cases (gradient-check.ts), with this kernel's own seeds and filter sizes. */
const cases = () => depthwiseCases(2000, 23, (seed) => [1, 3, 3, 5][seededInt(seed, 0, 3)]);

describe('DepthwiseConv2dNativeBackpropInput on wasm', () => {
  describeMatchesCpu('DepthwiseConv2dNativeBackpropInput', cases, 'dx', [
    ['SIMD wasm loops', true],
    ['typed-array loops', false],
  ]);

  it('agrees with central finite differences', async () => {
    const c: ConvCase = {
      xShape: [2, 8, 7, 6],
      wShape: [3, 3, 6, 1],
      conv: (x, f) => tf.depthwiseConv2d(x, f, 2, 'same'),
      seed: 91,
    };
    const analytic = await convGradients('wasm', c);
    const { numeric, analytic: exact } = await finiteDifferences(c, analytic, 'x', 8);
    expect(maxRelativeError(numeric, exact)).toBeLessThanOrEqual(1e-2);
  });
});
