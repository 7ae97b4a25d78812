import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyPlan } from './apply-plan.ts';
import { BnController, SingleValueBatchNormError } from './bn-control.ts';
import { describeLayers } from '../policies/plan.ts';
import { resolvePolicy } from '../policies/index.ts';

function denseBnModel() {
  const input = tf.input({ shape: [3] });
  const hidden = tf.layers.dense({ name: 'fc', units: 2, useBias: false, kernelInitializer: 'ones' }).apply(input) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'bn', momentum: 0.9 }).apply(hidden) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'bnlab_head', units: 2, activation: 'softmax' }).apply(bn) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** apply() in a training call; the cast only narrows tfjs's symbolic-or-eager return type */
const applyTraining = (model: tf.LayersModel, x: tf.Tensor) => model.apply(x, { training: true }) as tf.Tensor;

const movingMean = (model: tf.LayersModel) => Array.from(model.getLayer('bn').getWeights()[2].dataSync());

describe('BN mode control', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it("documents tfjs's own behaviour: trainable=false does not stop the running statistics", () => {
    const model = denseBnModel();
    model.getLayer('bn').trainable = false;
    tf.tidy(() => applyTraining(model, tf.ones([4, 3]).mul(5)));
    // batch mean of fc output is 15 per channel; momentum 0.9 moves 0 -> 1.5
    expect(movingMean(model)[0]).toBeCloseTo(1.5, 4);
  });

  it('inference mode keeps the running statistics fixed even in a training call', () => {
    const model = denseBnModel();
    const bn = new BnController(model);
    bn.setMode('bn', 'inference');
    tf.tidy(() => applyTraining(model, tf.ones([4, 3]).mul(5)));
    expect(movingMean(model)).toEqual([0, 0]);
  });

  it('train mode updates running statistics by EMA with Keras momentum only in training calls', () => {
    const model = denseBnModel();
    const bn = new BnController(model);
    bn.setMode('bn', 'train');
    tf.tidy(() => model.predict(tf.ones([4, 3]).mul(5)));
    expect(movingMean(model)).toEqual([0, 0]);
    tf.tidy(() => applyTraining(model, tf.ones([4, 3]).mul(5)));
    expect(movingMean(model)[0]).toBeCloseTo(1.5, 4);
    bn.setMomentumKeras(0.5);
    tf.tidy(() => applyTraining(model, tf.ones([4, 3]).mul(5)));
    expect(movingMean(model)[0]).toBeCloseTo(1.5 * 0.5 + 15 * 0.5, 4);
  });

  it('refuses a training-mode step with one value per channel', () => {
    const model = denseBnModel();
    const bn = new BnController(model);
    bn.setMode('bn', 'train');
    expect(() => tf.tidy(() => applyTraining(model, tf.ones([1, 3])))).toThrow(SingleValueBatchNormError);
    expect(() => tf.tidy(() => applyTraining(model, tf.ones([1, 3])))).toThrow(/one value per channel/);
    bn.setMode('bn', 'inference');
    expect(() => tf.tidy(() => applyTraining(model, tf.ones([1, 3])))).not.toThrow();
  });

  it('withBatchStatistics normalises by batch statistics and restores the running ones', async () => {
    const model = denseBnModel();
    const bn = new BnController(model);
    const before = movingMean(model);
    const x = tf.tensor2d([[1, 2, 3], [4, 5, 6], [0, 1, 0]]);
    const inference = model.predict(x) as tf.Tensor;
    const batchStats = await bn.withBatchStatistics(async () => model.predict(x) as tf.Tensor);
    expect(movingMean(model)).toEqual(before);
    expect(tf.max(tf.abs(tf.sub(inference, batchStats))).dataSync()[0]).toBeGreaterThan(1e-3);
  });

  it('captures the batch mean of each BN input on request', async () => {
    const model = denseBnModel();
    const bn = new BnController(model);
    bn.setCapture(true);
    tf.tidy(() => model.predict(tf.tensor2d([[1, 1, 1], [3, 3, 3]])));
    const means = await bn.takeBatchMeans();
    expect(Array.from(means.get('bn')!)).toEqual([6, 6]);
    bn.setCapture(false);
  });

  it('applyPlan sets trainable weights per policy and returns them for the optimizer', () => {
    const model = denseBnModel();
    const bn = new BnController(model);
    const layers = describeLayers(model, ['bnlab_head']);
    const frozen = applyPlan(model, resolvePolicy('freeze-all', layers), bn, null);
    expect(frozen.map((v) => v.name).every((n) => n.startsWith('bnlab_head'))).toBe(true);
    expect(bn.mode('bn')).toBe('inference');
    const trainBn = applyPlan(model, resolvePolicy('train-bn', layers), bn, 0.99);
    expect(trainBn.some((v) => v.name.includes('gamma'))).toBe(true);
    expect(trainBn.some((v) => v.name.startsWith('fc'))).toBe(false);
    expect(bn.mode('bn')).toBe('train');
    expect((model.getLayer('bn') as unknown as { momentum: number }).momentum).toBe(0.99);
  });
});

describe('BN layers without gamma or beta (Keras InceptionV3 builds BN with scale=False)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  /** conv -> BN(scale, center as given) -> dense head; the same seeded conv/head weights each time */
  function convBnModel(scale: boolean, center: boolean) {
    const input = tf.input({ shape: [4, 4, 2] });
    const conv = tf.layers.conv2d({ name: 'conv', filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(input) as tf.SymbolicTensor;
    const bn = tf.layers.batchNormalization({ name: 'bn', momentum: 0.9, scale, center }).apply(conv) as tf.SymbolicTensor;
    const pooled = tf.layers.globalAveragePooling2d({}).apply(bn) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'bnlab_head', units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }).apply(pooled) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: out });
  }

  /** Gradient of a loss w.r.t. the conv kernel and the new running mean, for one BN mode. */
  function step(model: tf.LayersModel, mode: 'train' | 'inference') {
    const bn = new BnController(model);
    bn.setMode('bn', mode);
    const x = tf.randomNormal([3, 4, 4, 2], 0, 1, 'float32', 11);
    const kernel = model.getLayer('conv').trainableWeights[0];
    const { grads } = tf.variableGrads(() => (applyTraining(model, x).square().sum() as tf.Scalar), [kernel.read() as tf.Variable]);
    const grad = Object.values(grads)[0].arraySync();
    const layer = model.getLayer('bn');
    const mean = layer.weights.find((w) => w.name.includes('moving_mean'))!.read();
    return { grad, movingMean: Array.from(mean.dataSync()) };
  }

  for (const mode of ['train', 'inference'] as const) {
    it(`${mode} mode: scale=false / center=false give the values and gradients of gamma=1 / beta=0`, () => {
      const reference = step(convBnModel(true, true), mode); // gamma initialised to ones, beta to zeros
      for (const [scale, center] of [[false, true], [true, false], [false, false]]) {
        const got = step(convBnModel(scale, center), mode);
        expect(got.movingMean.map((v) => +v.toFixed(6))).toEqual(reference.movingMean.map((v) => +v.toFixed(6)));
        expect((got.grad as number[][][][]).flat(3).map((v) => +v.toFixed(5))).toEqual((reference.grad as number[][][][]).flat(3).map((v) => +v.toFixed(5)));
      }
    });
  }
});
