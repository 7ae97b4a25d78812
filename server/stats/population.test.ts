import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { measureBatchNormInputs, recalibrateBatchNorm } from './population.ts';
import { readBnState } from './drift.ts';
import { sliceBatches } from '../../test/support/shared-fixtures.ts';
import { directMoments, expectClose } from '../../test/support/reference-moments.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const EPS = 1e-3;

/** BN in inference mode with the given statistics, written out by hand. */
function normalise(x: tf.Tensor, stats: { mean: Float32Array; variance: Float32Array }, gamma: tf.Tensor, beta: tf.Tensor) {
  return x.sub(tf.tensor1d(stats.mean)).div(tf.tensor1d(stats.variance).add(EPS).sqrt()).mul(gamma).add(beta);
}

/** conv -> BN -> relu -> conv(stride 2) -> BN, deterministic, with BN state far from the data's. */
function buildConvNet(): tf.LayersModel {
  const input = tf.input({ shape: [7, 7, 2], name: 'image' });
  let x = tf.layers
    .conv2d({ filters: 3, kernelSize: 3, padding: 'same', useBias: true, name: 'conv_a', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }), biasInitializer: tf.initializers.constant({ value: 0.3 }) })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn_a' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'relu_a' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'valid', name: 'conv_b', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn_b' }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: x, name: 'convnet' });
  model.getLayer('bn_a').setWeights([tf.tensor1d([1.5, 0.5, 2]), tf.tensor1d([0.1, -0.2, 0.3]), tf.tensor1d([5, -5, 2]), tf.tensor1d([10, 0.1, 3])]);
  model.getLayer('bn_b').setWeights([tf.tensor1d([1, 2, 3, 4]), tf.tensor1d([0, 0, 1, 1]), tf.tensor1d([1, 1, 1, 1]), tf.tensor1d([2, 2, 2, 2])]);
  return model;
}

function data(n: number, shape: [number, number, number], seed: number): tf.Tensor4D {
  return tf.randomNormal([n, ...shape], 0.5, 2, 'float32', seed) as tf.Tensor4D;
}

describe('recalibrateBatchNorm on a small conv net', () => {
  it('equals the population statistics computed directly, layer by layer, and leaks no tensors', async () => {
    const model = buildConvNet();
    const images = data(10, [7, 7, 2], 42);
    const before = tf.memory().numTensors;
    const progress: string[] = [];
    const written = await recalibrateBatchNorm(model, sliceBatches(images, 3), {
      onLayer: (done, total, name) => progress.push(`${done}/${total} ${name}`),
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(progress).toEqual(['1/2 bn_a', '2/2 bn_b']);

    // Independent reference: whole data set as one batch, BN applied by hand with the new stats.
    const expectedA = tf.tidy(() => directMoments(model.getLayer('conv_a').apply(images) as tf.Tensor));
    const gammaA = tf.tensor1d([1.5, 0.5, 2]);
    const betaA = tf.tensor1d([0.1, -0.2, 0.3]);
    const expectedB = tf.tidy(() => {
      const h = model.getLayer('conv_a').apply(images) as tf.Tensor;
      const a = normalise(h, expectedA, gammaA, betaA).relu();
      return directMoments(model.getLayer('conv_b').apply(a) as tf.Tensor);
    });

    expectClose(written.get('bn_a')!.mean, expectedA.mean);
    expectClose(written.get('bn_a')!.variance, expectedA.variance);
    expectClose(written.get('bn_b')!.mean, expectedB.mean);
    expectClose(written.get('bn_b')!.variance, expectedB.variance);
    expect(written.get('bn_a')!.count).toBe(10 * 7 * 7);
    expect(written.get('bn_b')!.count).toBe(10 * 3 * 3);

    // ... and it is what the layers now hold.
    expectClose(readBnState(model.getLayer('bn_a')).mean, expectedA.mean);
    expectClose(readBnState(model.getLayer('bn_b')).variance, expectedB.variance);
    // gamma/beta are untouched
    expect(Array.from(readBnState(model.getLayer('bn_a')).gamma!)).toEqual([1.5, 0.5, 2]);
    tf.dispose([images, gammaA, betaA]);
  });

  it('does not depend on how the data is split into batches', async () => {
    const images = data(11, [7, 7, 2], 7);
    const split = await recalibrateBatchNorm(buildConvNet(), sliceBatches(images, 3));
    const whole = await recalibrateBatchNorm(buildConvNet(), sliceBatches(images, 11));
    for (const layer of ['bn_a', 'bn_b']) {
      expectClose(split.get(layer)!.mean, whole.get(layer)!.mean, 1e-5);
      expectClose(split.get(layer)!.variance, whole.get(layer)!.variance, 1e-5);
      expect(split.get(layer)!.count).toBe(whole.get(layer)!.count);
    }
    images.dispose();
  });

  it('makes training-mode and inference-mode outputs agree on the data it saw as one batch', async () => {
    const model = buildConvNet();
    const images = data(6, [7, 7, 2], 3);
    await recalibrateBatchNorm(model, sliceBatches(images, 2));
    // Inference with population stats == BN with batch stats when the batch is the population.
    // (training: true also moves the running stats as a side effect; the model is thrown away after.)
    const inference = model.predict(images) as tf.Tensor;
    const training = model.apply(images, { training: true }) as tf.Tensor;
    expectClose(inference.dataSync() as Float32Array, training.dataSync() as Float32Array, 1e-3, 1e-3);
    tf.dispose([images, inference, training]);
  });

  it('disposes every batch it consumes, so a producer that yields fresh tensors leaks nothing', async () => {
    const model = buildConvNet();
    const images = data(5, [7, 7, 2], 9);
    const before = tf.memory().numTensors;
    const fresh = async function* () {
      for (let i = 0; i < 5; i += 2) yield images.slice([i, 0, 0, 0], [Math.min(2, 5 - i), -1, -1, -1]);
    };
    await recalibrateBatchNorm(model, fresh);
    await measureBatchNormInputs(model, fresh);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });

  it('refuses data that is not a rank-4 batch, and empty data', async () => {
    const model = buildConvNet();
    const flat = tf.zeros([2, 7]) as unknown as tf.Tensor4D;
    await expect(
      recalibrateBatchNorm(model, async function* () {
        yield flat;
      }),
    ).rejects.toThrow(/rank 4/);
    await expect(recalibrateBatchNorm(model, async function* () {})).rejects.toThrow(/no data reached layer bn_a/);
    flat.dispose();
  });

  it('refuses a model without BN and a channels-first BN', async () => {
    const input = tf.input({ shape: [4, 4, 2] });
    const noBn = tf.model({ inputs: input, outputs: tf.layers.conv2d({ filters: 2, kernelSize: 1 }).apply(input) as tf.SymbolicTensor });
    const images = data(2, [4, 4, 2], 1);
    await expect(recalibrateBatchNorm(noBn, sliceBatches(images, 2))).rejects.toThrow(/no BatchNormalization/);
    const channelsFirst = tf.model({ inputs: input, outputs: tf.layers.batchNormalization({ axis: 1 }).apply(input) as tf.SymbolicTensor });
    await expect(recalibrateBatchNorm(channelsFirst, sliceBatches(images, 2))).rejects.toThrow(/channel-last/);
    images.dispose();
  });
});

describe('measureBatchNormInputs', () => {
  it('measures every BN input with upstream BN at its current stats and writes nothing', async () => {
    const model = buildConvNet();
    const images = data(9, [7, 7, 2], 11);
    const stateA = readBnState(model.getLayer('bn_a'));
    const stateB = readBnState(model.getLayer('bn_b'));
    const before = tf.memory().numTensors;
    const measured = await measureBatchNormInputs(model, sliceBatches(images, 4));
    expect(tf.memory().numTensors).toBe(before);
    expect(measured.images).toBe(9);
    expect(measured.batches).toBe(3);
    expect([...measured.layers.keys()]).toEqual(['bn_a', 'bn_b']);

    expect(readBnState(model.getLayer('bn_a'))).toEqual(stateA);
    expect(readBnState(model.getLayer('bn_b'))).toEqual(stateB);

    const expectedB = tf.tidy(() => {
      const h = model.getLayer('conv_a').apply(images) as tf.Tensor;
      const a = normalise(h, stateA, tf.tensor1d(stateA.gamma!), tf.tensor1d(stateA.beta!)).relu();
      return directMoments(model.getLayer('conv_b').apply(a) as tf.Tensor);
    });
    expectClose(measured.layers.get('bn_b')!.mean, expectedB.mean);
    expectClose(measured.layers.get('bn_b')!.variance, expectedB.variance);
    images.dispose();
  });
});

describe('nested containers', () => {
  /**
   * Teachable-Machine-like: Sequential[Sequential[functional inner, GAP], Sequential[dense, BN]],
   * where `inner` = conv -> BN -> relu, plus a BN after a dense layer (rank-2 input).
   */
  function buildNested() {
    const innerInput = tf.input({ shape: [5, 5, 3], name: 'inner_input' });
    let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'inner_conv', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }).apply(innerInput) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'inner_bn' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: 'inner_relu' }).apply(x) as tf.SymbolicTensor;
    const inner = tf.model({ inputs: innerInput, outputs: x, name: 'inner' });
    const features = tf.sequential({ name: 'features', layers: [inner, tf.layers.globalAveragePooling2d({ name: 'gap' })] });
    const head = tf.sequential({
      name: 'head',
      layers: [
        tf.layers.dense({ units: 3, inputShape: [4], name: 'dense', kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }) }),
        tf.layers.batchNormalization({ name: 'head_bn' }),
      ],
    });
    return tf.sequential({ name: 'outer', layers: [features, head] });
  }

  it('recalibrates BN layers inside a functional model nested in Sequential containers', async () => {
    const model = buildNested();
    const images = data(8, [5, 5, 3], 21);
    const before = tf.memory().numTensors;
    const written = await recalibrateBatchNorm(model, sliceBatches(images, 3));
    expect(tf.memory().numTensors).toBe(before);
    expect([...written.keys()]).toEqual(['inner_bn', 'head_bn']);

    const inner = (model.layers[0] as tf.Sequential).layers[0] as tf.LayersModel;
    const head = model.layers[1] as tf.Sequential;
    const expectedInner = tf.tidy(() => directMoments(inner.getLayer('inner_conv').apply(images) as tf.Tensor));
    const expectedHead = tf.tidy(() => {
      const h = inner.getLayer('inner_conv').apply(images) as tf.Tensor;
      const a = normalise(h, expectedInner, tf.ones([4]), tf.zeros([4])).relu();
      return directMoments(head.getLayer('dense').apply(a.mean([1, 2])) as tf.Tensor);
    });
    expectClose(written.get('inner_bn')!.mean, expectedInner.mean);
    expectClose(written.get('inner_bn')!.variance, expectedInner.variance);
    expect(written.get('head_bn')!.count).toBe(8);
    expectClose(written.get('head_bn')!.mean, expectedHead.mean);
    expectClose(written.get('head_bn')!.variance, expectedHead.variance);
    images.dispose();
  });

  it('feeds a nested functional model that is not the first layer through the layers before it', async () => {
    const innerInput = tf.input({ shape: [6, 6, 2] });
    const innerBn = tf.layers.batchNormalization({ name: 'nested_bn' });
    const inner = tf.model({
      inputs: innerInput,
      outputs: innerBn.apply(tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'nested_conv', kernelInitializer: tf.initializers.glorotUniform({ seed: 9 }) }).apply(innerInput)) as tf.SymbolicTensor,
      name: 'nested',
    });
    const outerInput = tf.input({ shape: [6, 6, 3] });
    const stem = tf.layers.conv2d({ filters: 2, kernelSize: 1, name: 'stem', kernelInitializer: tf.initializers.glorotUniform({ seed: 8 }) });
    const outer = tf.model({ inputs: outerInput, outputs: inner.apply(stem.apply(outerInput)) as tf.SymbolicTensor });
    const images = data(5, [6, 6, 3], 4);
    const written = await recalibrateBatchNorm(outer, sliceBatches(images, 2));
    const expected = tf.tidy(() => directMoments(inner.getLayer('nested_conv').apply(stem.apply(images) as tf.Tensor) as tf.Tensor));
    expectClose(written.get('nested_bn')!.mean, expected.mean);
    expectClose(written.get('nested_bn')!.variance, expected.variance);
    images.dispose();
  });
});
