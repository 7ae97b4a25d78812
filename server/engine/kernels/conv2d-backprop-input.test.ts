import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { conv2DBackpropInputLimits } from './conv2d-backprop-input.ts';
import { convGradients, finiteDifferences, maxRelativeError, seededInt, type ConvCase } from '../../../test/support/gradient-check.ts';

/** Input gradients of ordinary convolutions: pointwise ones take bnlab's matMul path, others matMul + col2im. */
function convCases(): ConvCase[] {
  const cases: ConvCase[] = [];
  for (let i = 0; i < 8; i++) {
    const seed = 4000 + i * 31;
    const k = i < 5 ? 1 : 3;
    const stride = i === 4 || i === 7 ? 2 : 1;
    const pad = i % 2 === 0 ? 'same' : 'valid';
    cases.push({
      xShape: [seededInt(seed, 1, 3), seededInt(seed + 1, k, k + 9), seededInt(seed + 2, k, k + 9), seededInt(seed + 3, 1, 16)],
      wShape: [k, k, 0, seededInt(seed + 4, 1, 16)],
      conv: (x, f) => tf.conv2d(x, f, stride, pad),
      seed,
    });
    const c = cases[cases.length - 1];
    c.wShape[2] = c.xShape[3];
  }
  return cases;
}

describe('Conv2DBackpropInput on wasm (matMul paths)', () => {
  it.each(convCases().map((c) => [`${c.xShape} * ${c.wShape}`, c] as const))(
    'matches the cpu backend for x %s',
    async (_name, c) => {
      const reference = await convGradients('cpu', c);
      const wasm = await convGradients('wasm', c);
      expect(maxRelativeError(wasm.dx, reference.dx)).toBeLessThanOrEqual(1e-4);
    },
  );

  it('matches the cpu backend for a first-layer geometry (3×3, stride 2, same) in image chunks', async () => {
    const c: ConvCase = { xShape: [3, 11, 10, 3], wShape: [3, 3, 3, 5], conv: (x, f) => tf.conv2d(x, f, 2, 'same'), seed: 77 };
    const reference = await convGradients('cpu', c);
    const saved = conv2DBackpropInputLimits.maxColumnFloats;
    conv2DBackpropInputLimits.maxColumnFloats = 6 * 5 * 27; // one image per chunk
    try {
      const wasm = await convGradients('wasm', c);
      expect(maxRelativeError(wasm.dx, reference.dx)).toBeLessThanOrEqual(1e-4);
    } finally {
      conv2DBackpropInputLimits.maxColumnFloats = saved;
    }
  });

  it('agrees with central finite differences', async () => {
    const c: ConvCase = { xShape: [2, 5, 6, 9], wShape: [1, 1, 9, 4], conv: (x, f) => tf.conv2d(x, f, 1, 'same'), seed: 12 };
    const analytic = await convGradients('wasm', c);
    const { numeric, analytic: exact } = await finiteDifferences(c, analytic, 'x', 8);
    expect(maxRelativeError(numeric, exact)).toBeLessThanOrEqual(1e-2);
  });
});
