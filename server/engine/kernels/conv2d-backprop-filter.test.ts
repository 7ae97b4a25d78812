import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { conv2DBackpropFilterLimits, pointwiseFilterGradOptions } from './conv2d-backprop-filter.ts';
import { convGradients, describeMatchesCpu, finiteDifferences, maxRelativeError, seededInt, type ConvCase } from '../../../test/support/gradient-check.ts';

type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;

/** Random conv cases: 1×1 (matMul path) and k×k (im2col path), stride 1/2, same/valid/explicit. */
function convCases(): ConvCase[] {
  const cases: ConvCase[] = [];
  for (let i = 0; i < 14; i++) {
    const seed = 3000 + i * 29;
    const k = i % 3 === 0 ? 1 : [2, 3, 3, 5][seededInt(seed, 0, 3)];
    const stride = i % 4 < 2 ? 1 : 2;
    const pad: Pad = i === 13 ? [[0, 0], [1, 2], [0, 1], [0, 0]] : i % 2 === 0 ? 'same' : 'valid';
    const h = seededInt(seed + 2, k, k + 9);
    const w = seededInt(seed + 3, k, k + 9);
    const inChannels = seededInt(seed + 4, 1, 16);
    const outChannels = seededInt(seed + 5, 1, 16);
    const batch = seededInt(seed + 6, 1, 3);
    cases.push({
      xShape: [batch, h, w, inChannels],
      wShape: [k, k, inChannels, outChannels],
      conv: (x, f) => tf.conv2d(x, f, stride, pad as 'same'),
      seed,
    });
  }
  return cases;
}

describe('Conv2DBackpropFilter on wasm', () => {
  describeMatchesCpu('Conv2DBackpropFilter', convCases, 'dw', [
    ['im2col in SIMD wasm', true],
    ['im2col in typed-array loops', false],
  ], () => {
    it('processes large inputs in im2col chunks with the same result', async () => {
      // One image's columns: 8·8 pixels × 3·3·5 = 2880 floats; a 3000-float limit forces 1 image per chunk.
      const c: ConvCase = { xShape: [3, 15, 16, 5], wShape: [3, 3, 5, 4], conv: (x, f) => tf.conv2d(x, f, 2, 'same'), seed: 5 };
      const reference = await convGradients('cpu', c);
      const saved = conv2DBackpropFilterLimits.maxColumnFloats;
      conv2DBackpropFilterLimits.maxColumnFloats = 3000;
      try {
        const wasm = await convGradients('wasm', c);
        expect(maxRelativeError(wasm.dw, reference.dw)).toBeLessThanOrEqual(1e-4);
      } finally {
        conv2DBackpropFilterLimits.maxColumnFloats = saved;
      }
    });
  });

  it.each([
    [[2, 20, 20, 37], [1, 1, 37, 29], true], // several 128-row blocks, channel tails
    [[1, 16, 16, 64], [1, 1, 64, 128], true],
    [[3, 7, 9, 5], [1, 1, 5, 3], true],
    [[2, 20, 20, 37], [1, 1, 37, 29], false], // XNNPACK matMul path
  ] as const)('pointwise %j × %j (SIMD outer products: %s) matches the cpu backend', async (xShape, wShape, simd) => {
    const c: ConvCase = { xShape: [...xShape], wShape: [...wShape], conv: (x, f) => tf.conv2d(x, f, 1, 'same'), seed: 77 };
    const reference = await convGradients('cpu', c);
    pointwiseFilterGradOptions.simd = simd;
    try {
      const wasm = await convGradients('wasm', c);
      expect(maxRelativeError(wasm.dw, reference.dw)).toBeLessThanOrEqual(1e-4);
    } finally {
      pointwiseFilterGradOptions.simd = true;
    }
  });

  it.each([
    ['pointwise', [2, 6, 5, 7], [1, 1, 7, 3]],
    ['3x3 stride 2', [2, 9, 8, 3], [3, 3, 3, 4]],
  ] as const)('agrees with central finite differences (%s)', async (_name, xShape, wShape) => {
    const c: ConvCase = { xShape: [...xShape], wShape: [...wShape], conv: (x, f) => tf.conv2d(x, f, wShape[0] === 1 ? 1 : 2, 'same'), seed: 41 };
    const analytic = await convGradients('wasm', c);
    const { numeric, analytic: exact } = await finiteDifferences(c, analytic, 'w', 8);
    expect(maxRelativeError(numeric, exact)).toBeLessThanOrEqual(1e-2);
  });

  it('leaves no tensors or heap data behind', async () => {
    const c: ConvCase = { xShape: [2, 9, 9, 4], wShape: [3, 3, 4, 6], conv: (x, f) => tf.conv2d(x, f, 2, 'same'), seed: 8 };
    const first = await convGradients('wasm', c);
    tf.dispose([first.x, first.w, first.r]);
    const before = tf.memory();
    const dataIds = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const again = await convGradients('wasm', c);
    tf.dispose([again.x, again.w, again.r]);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds()).toBe(dataIds);
  });
});
