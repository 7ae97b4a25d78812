import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { buildClassifier, headPrefix } from './head.ts';
import { loadBackbone, type LoadedBackbone } from './load.ts';
import type { BackboneEntry } from './registry.ts';
import { tinyBnModel } from '../../test/support/backbone-fixtures.ts';

const MODELS_DIR = process.env.BNLAB_MODELS_DIR;

function fakeLoaded(model: tf.LayersModel, cutLayer: string): LoadedBackbone {
  const entry: BackboneEntry = { name: model.name, description: 'test', url: null, sha256: null, inputSize: 16, preprocessing: 'minus1to1', cutLayer, localDir: model.name };
  return { name: model.name, spec: model.name, stated: { preprocessing: 'option', cutLayer: 'option' }, teachable: null, model, entry, warnings: [], source: { location: 'path', dir: '/nowhere' } };
}

/** Save through a memory handler and load back with plain tf.loadLayersModel. */
async function roundTrip(model: tf.LayersModel): Promise<tf.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const saved = artifacts as unknown as tf.io.ModelArtifacts;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: saved.modelTopology, weightSpecs: saved.weightSpecs, weightData: saved.weightData }));
}

async function same(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const v = (await d.data())[0];
  d.dispose();
  return v;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('buildClassifier on a small functional BN model', () => {
  it('cuts, pools, adds the head, shares pretrained weights and round-trips through save/load', async () => {
    const backbone = fakeLoaded(tinyBnModel('cls_a'), 'cls_a_relu2');
    const { model, featureModel, headLayerNames } = buildClassifier(backbone, 3, { hidden: [5], dropout: 0.25 }, 42);
    expect(model.outputs[0].shape).toEqual([null, 3]);
    expect(featureModel.outputs[0].shape).toEqual([null, 6]);
    expect(headLayerNames).toEqual(['bnlab_head_pool', 'bnlab_head_hidden1', 'bnlab_head_dropout1', 'bnlab_head_out']);
    // The very same layer objects, not copies.
    expect(model.getLayer('cls_a_conv1')).toBe(backbone.model.getLayer('cls_a_conv1'));
    expect(model.getLayer('cls_a_bn2')).toBe(backbone.model.getLayer('cls_a_bn2'));
    expect(() => model.getLayer('cls_a_logits')).toThrow();
    const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 3);
    const before = model.predict(x) as tf.Tensor;
    const reloaded = await roundTrip(model);
    expect(reloaded.layers.map((l) => l.name)).toEqual(model.layers.map((l) => l.name));
    expect(await same(reloaded.predict(x) as tf.Tensor, before)).toBeLessThan(1e-6);
    // Changing a pretrained weight through the backbone changes the classifier's output.
    const conv = backbone.model.getLayer('cls_a_conv1');
    conv.setWeights(conv.getWeights().map((w) => tf.mul(w, 2)));
    expect(await same(model.predict(x) as tf.Tensor, before)).toBeGreaterThan(1e-4);
  });

  it('the same seed gives the same head, another seed another head', async () => {
    const backbone = fakeLoaded(tinyBnModel('cls_b'), 'cls_b_relu2');
    const kernel = (seed: number) => buildClassifier(backbone, 2, { hidden: [], dropout: 0 }, seed).model.layers.at(-1)!.getWeights()[0];
    const a = kernel(7);
    const b = kernel(7);
    const c = kernel(8);
    expect(await same(a, b)).toBe(0);
    expect(await same(a, c)).toBeGreaterThan(0);
  });

  it('head names never collide: a second head on a bnlab model gets its own prefix', async () => {
    const backbone = fakeLoaded(tinyBnModel('cls_c'), 'cls_c_relu2');
    const first = buildClassifier(backbone, 2, { hidden: [], dropout: 0 }, 1);
    const reloaded = await roundTrip(first.model);
    const again = buildClassifier(fakeLoaded(reloaded, 'bnlab_head_pool'), 4, { hidden: [3], dropout: 0 }, 1);
    expect(again.headLayerNames).toEqual(['bnlab_head2_hidden1', 'bnlab_head2_out']);
    expect(again.model.outputs[0].shape).toEqual([null, 4]);
    const names = again.model.layers.map((l) => l.name);
    expect(new Set(names).size).toBe(names.length);
    expect(headPrefix(new Set(['bnlab_head_out', 'bnlab_head2_out']))).toBe('bnlab_head3');
  });

  it('rejects fewer than 2 classes and a cut layer the model lacks', () => {
    const backbone = fakeLoaded(tinyBnModel('cls_d'), 'cls_d_relu2');
    expect(() => buildClassifier(backbone, 1, { hidden: [], dropout: 0 }, 0)).toThrow(/at least 2 classes/);
    expect(() => buildClassifier({ ...backbone, entry: { ...backbone.entry, cutLayer: 'nope' } }, 2, { hidden: [], dropout: 0 }, 0)).toThrow(/'nope' not found/);
  });
});

describe.skipIf(!MODELS_DIR)('buildClassifier on the shared backbones', () => {
  const config = () => ({ ...loadConfig({ BNLAB_MODELS_DIR: MODELS_DIR }), cacheDir: '/nonexistent-bnlab-cache' });

  for (const [name, features, sharedLayer] of [
    ['mobilenet_v1_0.25_224', 256, 'conv1'],
    ['teachable_mobilenet_v2_0.35_224', 1280, 'Conv1'],
  ] as const) {
    it(`${name}: 2 classes -> [null,2], ${features} features, shared weights, save/load round trip`, async () => {
      const backbone = await loadBackbone(name, config());
      const { model, featureModel } = buildClassifier(backbone, 2, { hidden: [], dropout: 0 }, 0);
      expect(model.outputs[0].shape).toEqual([null, 2]);
      expect(featureModel.outputs[0].shape).toEqual([null, features]);
      expect(model.inputs[0].shape).toEqual([null, 224, 224, 3]);
      const pretrained = backbone.model.layers.flatMap(function all(l: tf.layers.Layer): tf.layers.Layer[] {
        return 'layers' in l ? (l as tf.LayersModel).layers.flatMap(all) : [l];
      });
      expect(model.getLayer(sharedLayer)).toBe(pretrained.find((l) => l.name === sharedLayer));
      const x = tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', 11);
      const before = model.predict(x) as tf.Tensor;
      const reloaded = await roundTrip(model);
      expect(await same(reloaded.predict(x) as tf.Tensor, before)).toBeLessThan(1e-5);
      tf.dispose([x, before]);
      reloaded.dispose();
      backbone.model.dispose();
    });
  }
});
