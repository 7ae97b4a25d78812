import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { applyRules } from './custom-rules.ts';
import { describeLayers } from './plan.ts';
import { resolvePolicy } from './index.ts';
import { RecipeSchema } from '../schema/recipe.ts';
import { splitPreciseBn } from '../schema/policy-names.ts';

/** conv1 -> bn1 -> relu -> dw2 -> bn2 -> relu -> conv3 -> bn3 -> relu -> gap -> head */
function tinyBackboneWithHead() {
  const input = tf.input({ shape: [8, 8, 3] });
  let x = tf.layers.conv2d({ name: 'conv1', filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'relu1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ name: 'dw2', kernelSize: 3, padding: 'same', useBias: false }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'relu2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ name: 'conv3', filters: 6, kernelSize: 1, useBias: false }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'bn3' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'relu3' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'bnlab_head_out', units: 2, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

describe('policies', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const layers = () => describeLayers(tinyBackboneWithHead(), ['bnlab_head_out']);

  it('splits layers by role', () => {
    const l = layers();
    expect(l.backboneWeightLayers).toEqual(['conv1', 'dw2', 'conv3']);
    expect(l.backboneBnLayers).toEqual(['bn1', 'bn2', 'bn3']);
    expect(l.headLayers).toEqual(['bnlab_head_out']);
  });

  it('freeze-all trains only the head with every BN in inference mode', () => {
    const plan = resolvePolicy('freeze-all', layers());
    expect([...plan.trainableLayers]).toEqual(['bnlab_head_out']);
    expect(plan.bnTrainMode.size).toBe(0);
    expect(plan.bnAffineTrainable.size).toBe(0);
    expect(plan.recalibrateBeforeTraining).toBe(false);
  });

  it('train-bn keeps conv weights frozen but BN statistics and affine training', () => {
    const plan = resolvePolicy('train-bn', layers());
    expect([...plan.trainableLayers]).toEqual(['bnlab_head_out']);
    expect([...plan.bnTrainMode]).toEqual(['bn1', 'bn2', 'bn3']);
    expect([...plan.bnAffineTrainable]).toEqual(['bn1', 'bn2', 'bn3']);
  });

  it('bn-stats-only moves statistics but not gamma/beta', () => {
    const plan = resolvePolicy('bn-stats-only', layers());
    expect([...plan.bnTrainMode]).toEqual(['bn1', 'bn2', 'bn3']);
    expect(plan.bnAffineTrainable.size).toBe(0);
  });

  it('adabn recalibrates first, then trains the head with BN frozen', () => {
    const plan = resolvePolicy('adabn', layers());
    expect(plan.recalibrateBeforeTraining).toBe(true);
    expect(plan.bnTrainMode.size).toBe(0);
  });

  it('full trains everything', () => {
    const plan = resolvePolicy('full', layers());
    expect([...plan.trainableLayers].sort()).toEqual(['bnlab_head_out', 'conv1', 'conv3', 'dw2']);
    expect(plan.bnTrainMode.size).toBe(3);
  });

  it('unfreeze-last:n unfreezes the last n weight units with the BN that follows them', () => {
    const one = resolvePolicy('unfreeze-last:1', layers());
    expect([...one.trainableLayers].sort()).toEqual(['bnlab_head_out', 'conv3']);
    expect([...one.bnTrainMode]).toEqual(['bn3']);
    const two = resolvePolicy('unfreeze-last:2', layers());
    expect([...two.trainableLayers].sort()).toEqual(['bnlab_head_out', 'conv3', 'dw2']);
    expect([...two.bnTrainMode]).toEqual(['bn2', 'bn3']);
    const all = resolvePolicy('unfreeze-last:99', layers());
    expect(all.bnTrainMode.size).toBe(3);
  });

  it('<policy>+precise-bn plans as <policy> (PreciseBN runs after training), and the schema takes it', () => {
    expect(resolvePolicy('train-bn+precise-bn', layers())).toEqual(resolvePolicy('train-bn', layers()));
    expect(splitPreciseBn('unfreeze-last:2+precise-bn')).toEqual({ policy: 'unfreeze-last:2', preciseBn: true });
    expect(splitPreciseBn('adabn')).toEqual({ policy: 'adabn', preciseBn: false });
    expect(RecipeSchema.safeParse({ backbone: 'demo', data: 'd', policy: 'train-bn+precise-bn' }).success).toBe(true);
    expect(RecipeSchema.safeParse({ backbone: 'demo', data: 'd', policy: 'train-bn+precise' }).success).toBe(false);
  });

  it('custom rules apply in order over a base policy', () => {
    const plan = resolvePolicy({ base: 'freeze-all', rules: [{ match: '^bn', bnMode: 'train' }, { match: 'bn1', bnMode: 'inference' }, { match: 'conv3|bn3', trainable: true, bnAffine: true }] }, layers());
    expect([...plan.bnTrainMode].sort()).toEqual(['bn2', 'bn3']);
    expect([...plan.trainableLayers].sort()).toEqual(['bnlab_head_out', 'conv3']);
    expect([...plan.bnAffineTrainable]).toEqual(['bn3']);
  });

  it('rejects a rule that matches nothing or is not a regular expression, naming the rule', () => {
    const base = resolvePolicy('freeze-all', layers());
    expect(() => applyRules(base, layers(), [{ match: 'nope' }])).toThrow(/policy\.rules\.0\.match: .*matches no backbone layer/);
    expect(() => applyRules(base, layers(), [{ match: 'bn1' }, { match: '(' }])).toThrow(/policy\.rules\.1\.match: not a valid regular expression/);
  });

  it('rejects unknown policy names', () => {
    expect(() => resolvePolicy('freeze-some', layers())).toThrow(/unknown policy 'freeze-some'/);
  });
});
