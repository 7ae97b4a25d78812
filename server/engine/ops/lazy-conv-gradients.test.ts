import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.ts';
import { maxRelativeError, seededValues } from '../../../test/support/gradient-check.ts';
import { useLazyConvGradients } from './lazy-conv-gradients.ts';

const seeded = (seed: number) => tf.initializers.randomNormal({ seed, stddev: 0.3 });

/** Conv2D variants: strided 'same' without bias, 1×1 with bias + fused relu, 'valid' + elu, relu6 (unfused activation). */
function convNet() {
  const input = tf.input({ shape: [9, 9, 3] });
  let x = tf.layers.conv2d({ name: 'c1', filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: seeded(1) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ name: 'c2', filters: 12, kernelSize: 1, activation: 'relu', kernelInitializer: seeded(2), biasInitializer: seeded(3) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, padding: 'same', depthwiseInitializer: seeded(4) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ name: 'c3', filters: 6, kernelSize: 2, padding: 'valid', activation: 'elu', kernelInitializer: seeded(5), biasInitializer: seeded(6) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ name: 'c4', filters: 5, kernelSize: 1, activation: 'relu6', kernelInitializer: seeded(7) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'head', units: 3, kernelInitializer: seeded(8) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

const CONVS = ['c1', 'c2', 'c3', 'c4'];

/** Loss, inference output, gradients and the kernels that the backward pass ran. */
async function step(model: tf.LayersModel, frozenConvs: boolean, initial: tf.Tensor[][]) {
  model.layers.forEach((layer, i) => layer.setWeights(initial[i])); // a training call moves bn1's moving statistics
  for (const name of CONVS) model.getLayer(name).trainable = !frozenConvs;
  const x = tf.tensor4d(seededValues(2 * 9 * 9 * 3, 11), [2, 9, 9, 3]);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let grads: tf.NamedTensorMap = {};
  let loss: tf.Scalar | null = null;
  const profile = await tf.profile(() => {
    const r = tf.variableGrads(() => (model.apply(x, { training: true }) as tf.Tensor).square().sum() as tf.Scalar, variables);
    grads = r.grads;
    loss = r.value;
  });
  const kernelCalls = (name: string) => profile.kernels.filter((k) => k.name === name).length;
  const predicted = model.predict(x) as tf.Tensor;
  const result = {
    loss: (await loss!.data()) as Float32Array,
    predicted: (await predicted.data()) as Float32Array,
    grads: Object.fromEntries(await Promise.all(Object.entries(grads).map(async ([n, g]) => [n, (await g.data()) as Float32Array] as const))),
    filterGradients: kernelCalls('Conv2DBackpropFilter'),
    inputGradients: kernelCalls('Conv2DBackpropInput'),
  };
  tf.dispose([x, predicted, loss!, ...Object.values(grads)]);
  return result;
}

describe('useLazyConvGradients', () => {
  it.each(['cpu', 'wasm'])('on %s: same outputs and gradients, no unneeded conv gradients', async (backend) => {
    await selectBackend(backend);
    const model = convNet();
    const initial = model.layers.map((layer) => layer.getWeights().map((w) => w.clone()));
    const reference = { full: await step(model, false, initial), frozen: await step(model, true, initial) };
    expect(useLazyConvGradients(model)).toBe(4);
    expect(useLazyConvGradients(model)).toBe(4); // idempotent
    const lazy = { full: await step(model, false, initial), frozen: await step(model, true, initial) };

    for (const regime of ['full', 'frozen'] as const) {
      expect(Array.from(lazy[regime].predicted)).toEqual(Array.from(reference[regime].predicted)); // inference path untouched
      expect(maxRelativeError(lazy[regime].loss, reference[regime].loss)).toBeLessThanOrEqual(1e-6);
      expect(Object.keys(lazy[regime].grads).sort()).toEqual(Object.keys(reference[regime].grads).sort());
      for (const [name, g] of Object.entries(reference[regime].grads)) {
        expect(maxRelativeError(lazy[regime].grads[name], g), `${regime} ${name}`).toBeLessThanOrEqual(1e-5);
      }
    }
    // tfjs's fused conv (linear activation: c1, c4) computes both gradients whenever it is on the
    // path (c2, c3: relu/elu already fall back to plain ops while recording); c1 is off the path when frozen
    expect(reference.full.filterGradients).toBe(4);
    expect(reference.full.inputGradients).toBe(4);
    expect(reference.frozen.filterGradients).toBe(1);
    // lazy: all filter gradients but no input gradient for c1 (its input is the image) ...
    expect(lazy.full.filterGradients).toBe(4);
    expect(lazy.full.inputGradients).toBe(3);
    // ... and with frozen convs no filter gradient at all; c1 needs none (nothing trainable before it)
    expect(lazy.frozen.filterGradients).toBe(0);
    expect(lazy.frozen.inputGradients).toBe(3);
    tf.dispose(initial.flat());
    model.dispose();
  });

  it('leaves channels-first and non-Conv2D layers alone', () => {
    const input = tf.input({ shape: [3, 8, 8] });
    const x = tf.layers.conv2d({ filters: 2, kernelSize: 3, dataFormat: 'channelsFirst' }).apply(input) as tf.SymbolicTensor;
    const y = tf.layers.dense({ units: 2 }).apply(tf.layers.flatten().apply(x) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: y });
    expect(useLazyConvGradients(model)).toBe(0);
    model.dispose();
  });
});
