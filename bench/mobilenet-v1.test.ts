import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchNormLayers } from '../server/model/layers.ts';
import { buildMobileNetV1, MOBILENET_V1_CUT_LAYER } from './mobilenet-v1.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('buildMobileNetV1', () => {
  const keras = buildMobileNetV1({ alpha: 0.25, inputSize: 224, seed: 1, includeTop: true, classes: 1000 });
  afterAll(() => keras.dispose());

  it('has the Keras α0.25@224 parameter count (475,544) and 27 BN layers', () => {
    expect(keras.countParams()).toBe(475_544);
    expect(batchNormLayers(keras)).toHaveLength(27);
    expect(keras.outputs[0].shape).toEqual([null, 1000]);
  });

  it('halves the resolution as Keras does (same padding): 7x7x256 at the cut for 224, 4x4 for 128', () => {
    const cut = (m: tf.LayersModel) => m.getLayer(MOBILENET_V1_CUT_LAYER).outputShape;
    expect(cut(keras)).toEqual([null, 7, 7, 256]);
    const small = buildMobileNetV1({ alpha: 0.25, inputSize: 128, seed: 1 });
    expect(cut(small)).toEqual([null, 4, 4, 256]);
    small.dispose();
  });

  it('gives α1.0 its 1024 channels and the Keras parameter count without top (3,228,864)', () => {
    const wide = buildMobileNetV1({ alpha: 1, inputSize: 224, seed: 1 });
    expect(wide.outputs[0].shape).toEqual([null, 7, 7, 1024]);
    expect(wide.countParams()).toBe(3_228_864);
    wide.dispose();
  });

  it('is reproducible from its seed', () => {
    const a = buildMobileNetV1({ alpha: 0.25, inputSize: 64, seed: 7 });
    const b = buildMobileNetV1({ alpha: 0.25, inputSize: 64, seed: 7 });
    const c = buildMobileNetV1({ alpha: 0.25, inputSize: 64, seed: 8 });
    const first = (m: tf.LayersModel) => m.getLayer('conv_pw_5').getWeights()[0].dataSync();
    expect(Array.from(first(a))).toEqual(Array.from(first(b)));
    expect(Array.from(first(a))).not.toEqual(Array.from(first(c)));
    [a, b, c].forEach((m) => m.dispose());
  });
});

const modelsDir = process.env.BNLAB_MODELS_DIR;
describe.skipIf(!modelsDir)('buildMobileNetV1 against the shared Keras model', () => {
  it('has the same layers (class, name, order) and weight shapes as mobilenet_v1_0.25_224', () => {
    const json = JSON.parse(fs.readFileSync(path.join(modelsDir!, 'mobilenet_v1_0.25_224', 'model.json'), 'utf8'));
    const topology = json.modelTopology.model_config ?? json.modelTopology;
    const shared = (topology.config.layers as Array<{ class_name: string; config: { name: string } }>).map((l) => `${l.class_name}:${l.config.name}`);
    const sharedWeights = (json.weightsManifest as Array<{ weights: Array<{ name: string; shape: number[] }> }>)
      .flatMap((group) => group.weights)
      .map((w) => `${w.name}:${w.shape.join('x')}`)
      .sort();

    const built = buildMobileNetV1({ alpha: 0.25, inputSize: 224, seed: 1, includeTop: true, classes: 1000 });
    const names = built.layers.map((l) => `${l.getClassName()}:${l.name}`);
    const weights = built.weights.map((w) => `${w.originalName}:${w.shape.join('x')}`).sort();
    built.dispose();
    expect(names).toEqual(shared);
    expect(weights).toEqual(sharedWeights);
  });
});
