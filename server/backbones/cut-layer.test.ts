import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { TOPOLOGIES } from '../../test/support/topologies.ts';
import { defaultCutLayer, findLayer, layerTable } from './cut-layer.ts';
import { tinyBnModel, tinyDenseModel } from '../../test/support/backbone-fixtures.ts';

type ST = tf.SymbolicTensor;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('defaultCutLayer (the rule in cut-layer.ts)', () => {
  it('cuts before global pooling', () => {
    expect(defaultCutLayer(tinyBnModel('guess_a'))).toBe('guess_a_relu2');
  });

  it('cuts before Flatten when there is no pooling', () => {
    const input = tf.input({ shape: [8, 8, 1] });
    const conv = tf.layers.conv2d({ filters: 2, kernelSize: 3, name: 'guess_b_conv' }).apply(input) as ST;
    const flat = tf.layers.flatten({ name: 'guess_b_flat' }).apply(conv) as ST;
    const out = tf.layers.dense({ units: 2, name: 'guess_b_out' }).apply(flat) as ST;
    expect(defaultCutLayer(tf.model({ inputs: input, outputs: out }))).toBe('guess_b_conv');
  });

  it('falls back to the layer before the last Dense of an all-dense model', () => {
    expect(defaultCutLayer(tinyDenseModel('guess_c'))).toBe('guess_c_hidden');
  });

  it('descends into a nested container to its output layer', () => {
    const inner = tinyBnModel('guess_d');
    const features = tf.model({ inputs: inner.inputs, outputs: inner.getLayer('guess_d_relu2').output as ST, name: 'guess_d_features' });
    const outer = tf.sequential({ layers: [features, tf.layers.globalAveragePooling2d({ name: 'guess_d_gap' }), tf.layers.dense({ units: 2, name: 'guess_d_cls' })] });
    expect(defaultCutLayer(outer)).toBe('guess_d_relu2');
    const found = findLayer(outer, 'guess_d_relu2');
    expect(found?.container.name).toBe('guess_d_features');
  });
});

describe('the default cut rule on each topology family (test/support/topologies.ts)', () => {
  for (const [family, build] of Object.entries(TOPOLOGIES)) {
    it(`${family}: cuts at the last spatial feature layer`, () => {
      const { model, expectedCut } = build(`cut_${family}`);
      expect(defaultCutLayer(model)).toBe(expectedCut);
      model.dispose();
    });
  }

  it('darknet-style: skips a final 1x1 conv with one filter per class, also when an activation follows it', () => {
    const input = tf.input({ shape: [8, 8, 3] });
    const features = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'dk_features' }).apply(input) as ST;
    let logits = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'dk_logits' }).apply(features) as ST;
    logits = tf.layers.leakyReLU({ name: 'dk_leaky' }).apply(logits) as ST;
    const pooled = tf.layers.globalAveragePooling2d({ name: 'dk_gap' }).apply(logits) as ST;
    const reshaped = tf.layers.reshape({ targetShape: [4], name: 'dk_reshape' }).apply(pooled) as ST;
    const out = tf.layers.softmax({ name: 'dk_softmax' }).apply(reshaped) as ST;
    expect(defaultCutLayer(tf.model({ inputs: input, outputs: out }))).toBe('dk_features');
  });

  it('keeps a final 1x1 conv whose width is not the class count, or that is followed by trainable layers', () => {
    const input = tf.input({ shape: [8, 8, 3] });
    const features = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', name: 'kp_features' }).apply(input) as ST;
    const wide = tf.layers.conv2d({ filters: 16, kernelSize: 1, name: 'kp_expand' }).apply(features) as ST;
    const pooled = tf.layers.globalAveragePooling2d({ name: 'kp_gap' }).apply(wide) as ST;
    const out = tf.layers.dense({ units: 4, activation: 'softmax', name: 'kp_out' }).apply(pooled) as ST;
    expect(defaultCutLayer(tf.model({ inputs: input, outputs: out }))).toBe('kp_expand');
    // the same width as the output, but a Dense follows: it is a feature layer, not the classifier
    const narrow = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'kp_narrow' }).apply(features) as ST;
    const pooled2 = tf.layers.globalAveragePooling2d({ name: 'kp_gap2' }).apply(narrow) as ST;
    const out2 = tf.layers.dense({ units: 4, activation: 'softmax', name: 'kp_out2' }).apply(pooled2) as ST;
    expect(defaultCutLayer(tf.model({ inputs: input, outputs: out2 }))).toBe('kp_narrow');
  });

  it('a model that ends in features is cut at its output', () => {
    const input = tf.input({ shape: [8, 8, 3] });
    const out = tf.layers.conv2d({ filters: 6, kernelSize: 3, name: 'ft_out' }).apply(input) as ST;
    expect(defaultCutLayer(tf.model({ inputs: input, outputs: out }))).toBe('ft_out');
  });
});

describe('layerTable', () => {
  it('lists every leaf with its output shape, marks BN layers, the default cut and the cut in use', () => {
    const { model } = TOPOLOGIES.darknet('tbl');
    const rows = layerTable(model, 'tbl_leaky1');
    expect(rows.map((r) => r.name)).toEqual(model.layers.map((l) => l.name));
    expect(rows.filter((r) => r.batchNorm).map((r) => r.name)).toEqual(['tbl_conv0_bn', 'tbl_conv1_bn', 'tbl_conv2_bn']);
    expect(rows.find((r) => r.defaultCut)?.name).toBe('tbl_leaky2');
    expect(rows.find((r) => r.cut)?.name).toBe('tbl_leaky1');
    expect(rows.find((r) => r.name === 'tbl_logits_conv')).toMatchObject({ outputShape: [4, 4, 5], params: 16 * 5 + 5, inputs: ['tbl_leaky2'] });
  });

  it('names the containers of nested layers', () => {
    const inner = tinyBnModel('tbl_n');
    const features = tf.model({ inputs: inner.inputs, outputs: inner.getLayer('tbl_n_relu2').output as ST, name: 'tbl_n_features' });
    const outer = tf.sequential({ layers: [features, tf.layers.globalAveragePooling2d({ name: 'tbl_n_gap' }), tf.layers.dense({ units: 2, name: 'tbl_n_cls' })] });
    const rows = layerTable(outer);
    expect(rows.find((r) => r.name === 'tbl_n_relu2')).toMatchObject({ containers: ['tbl_n_features'], defaultCut: true, cut: true });
  });
});
