import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { findBiasBeforeBn } from './lint.ts';
import { loadBackbone } from '../backbones/load.ts';
import { tinyBnModel } from '../../test/support/backbone-fixtures.ts';

const MODELS_DIR = process.env.BNLAB_MODELS_DIR;
type ST = tf.SymbolicTensor;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('findBiasBeforeBn', () => {
  it('finds the biased conv feeding BN and not the bias-free one', () => {
    expect(findBiasBeforeBn(tinyBnModel('lint_a'))).toEqual([{ layer: 'lint_a_conv1', bn: 'lint_a_bn1' }]);
  });

  it('ignores a biased layer whose output also goes elsewhere, and one that is a model output', () => {
    const input = tf.input({ shape: [6] });
    const shared = tf.layers.dense({ units: 6, name: 'lint_b_shared' }).apply(input) as ST;
    const bn = tf.layers.batchNormalization({ name: 'lint_b_bn' }).apply(shared) as ST;
    const sum = tf.layers.add({ name: 'lint_b_add' }).apply([bn, shared]) as ST;
    const last = tf.layers.dense({ units: 3, name: 'lint_b_last' }).apply(sum) as ST;
    const bnLast = tf.layers.batchNormalization({ name: 'lint_b_bn_last' }).apply(last) as ST;
    const model = tf.model({ inputs: input, outputs: [bnLast, last] });
    expect(findBiasBeforeBn(model)).toEqual([]);
  });

  it('looks inside nested Sequential and functional containers', () => {
    const inner = tf.sequential({
      name: 'lint_c_inner',
      layers: [
        tf.layers.depthwiseConv2d({ inputShape: [8, 8, 2], kernelSize: 3, useBias: true, name: 'lint_c_dw' }),
        tf.layers.batchNormalization({ name: 'lint_c_bn' }),
        tf.layers.conv2d({ filters: 2, kernelSize: 1, useBias: false, name: 'lint_c_pw' }),
        tf.layers.batchNormalization({ name: 'lint_c_bn2' }),
      ],
    });
    const functional = tinyBnModel('lint_c_fn');
    const outer = tf.sequential({ name: 'lint_c_outer', layers: [inner, tf.layers.globalAveragePooling2d({ name: 'lint_c_pool' })] });
    const wrapper = tf.sequential({ name: 'lint_c_wrapper', layers: [functional] });
    expect(findBiasBeforeBn(outer)).toEqual([{ layer: 'lint_c_dw', bn: 'lint_c_bn' }]);
    expect(findBiasBeforeBn(wrapper)).toEqual([{ layer: 'lint_c_fn_conv1', bn: 'lint_c_fn_bn1' }]);
  });
});

describe.skipIf(!MODELS_DIR)('findBiasBeforeBn on the shared backbones', () => {
  it('MobileNet v1: none (conv_preds has a bias but no BN after it)', async () => {
    const backbone = await loadBackbone('mobilenet_v1_0.25_224', { ...loadConfig({ BNLAB_MODELS_DIR: MODELS_DIR }), cacheDir: '/nonexistent-bnlab-cache' });
    expect((backbone.model.getLayer('conv_preds') as unknown as { useBias: boolean }).useBias).toBe(true);
    expect(findBiasBeforeBn(backbone.model)).toEqual([]);
    backbone.model.dispose();
  });

  it('Teachable MobileNetV2 (nested): none', async () => {
    const backbone = await loadBackbone('teachable_mobilenet_v2_0.35_224', { ...loadConfig({ BNLAB_MODELS_DIR: MODELS_DIR }), cacheDir: '/nonexistent-bnlab-cache' });
    expect(findBiasBeforeBn(backbone.model)).toEqual([]);
    backbone.model.dispose();
  });
});
