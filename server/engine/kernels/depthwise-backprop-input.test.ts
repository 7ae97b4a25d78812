import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { convGradients, describeMatchesCpu, finiteDifferences, maxRelativeError, seededInt, type ConvCase } from './gradient-check.ts';

/** Random depthwise cases: stride 1/2, same/valid, odd/even sizes, 1..16 channels, multiplier 1..2. */
function depthwiseCases(): ConvCase[] {
  const cases: ConvCase[] = [];
  for (let i = 0; i < 12; i++) {
    const seed = 2000 + i * 23;
    const k = [1, 3, 3, 5][seededInt(seed, 0, 3)];
    const stride = (i % 2) + 1;
    const pad = i % 4 < 2 ? 'same' : 'valid';
    const h = seededInt(seed + 2, k, k + 9);
    const w = seededInt(seed + 3, k, k + 9);
    const channels = seededInt(seed + 4, 1, 16);
    const multiplier = i % 3 === 2 ? 2 : 1;
    const batch = seededInt(seed + 5, 1, 3);
    cases.push({
      xShape: [batch, h, w, channels],
      wShape: [k, k, channels, multiplier],
      conv: (x, f) => tf.depthwiseConv2d(x, f, stride, pad),
      seed,
    });
  }
  return cases;
}

describe('DepthwiseConv2dNativeBackpropInput on wasm', () => {
  describeMatchesCpu('DepthwiseConv2dNativeBackpropInput', depthwiseCases, 'dx', [
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
