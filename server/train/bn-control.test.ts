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
