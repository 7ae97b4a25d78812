import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { findLayer, guessCutLayer } from './cut-layer.ts';
import { tinyBnModel, tinyDenseModel } from '../../test/support/backbone-fixtures.ts';

type ST = tf.SymbolicTensor;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('guessCutLayer', () => {
  it('cuts before global pooling', () => {
    expect(guessCutLayer(tinyBnModel('guess_a'))).toBe('guess_a_relu2');
  });

  it('cuts before Flatten when there is no pooling', () => {
    const input = tf.input({ shape: [8, 8, 1] });
    const conv = tf.layers.conv2d({ filters: 2, kernelSize: 3, name: 'guess_b_conv' }).apply(input) as ST;
    const flat = tf.layers.flatten({ name: 'guess_b_flat' }).apply(conv) as ST;
    const out = tf.layers.dense({ units: 2, name: 'guess_b_out' }).apply(flat) as ST;
    expect(guessCutLayer(tf.model({ inputs: input, outputs: out }))).toBe('guess_b_conv');
  });

  it('falls back to the layer before the last Dense of an all-dense model', () => {
    expect(guessCutLayer(tinyDenseModel('guess_c'))).toBe('guess_c_hidden');
  });

  it('descends into a nested container to its output layer', () => {
    const inner = tinyBnModel('guess_d');
    const features = tf.model({ inputs: inner.inputs, outputs: inner.getLayer('guess_d_relu2').output as ST, name: 'guess_d_features' });
    const outer = tf.sequential({ layers: [features, tf.layers.globalAveragePooling2d({ name: 'guess_d_gap' }), tf.layers.dense({ units: 2, name: 'guess_d_cls' })] });
    expect(guessCutLayer(outer)).toBe('guess_d_relu2');
    const found = findLayer(outer, 'guess_d_relu2');
    expect(found?.container.name).toBe('guess_d_features');
  });
});
