import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchNormLayers } from '../model/layers.ts';
import { buildDemoBackbone, DEMO_CUT_LAYER } from './architecture.ts';
import { diskHandler } from '../backbones/model-files.ts';
import { DEMO_BACKBONE_DIR, loadDemoBackbone, preprocessMinus1To1, readDemoBackboneMeta, saveDemoBackbone, type DemoBackboneMeta } from './backbone-files.ts';
import { renderBatch, SOURCE_CLASSES } from './synthetic.ts';

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'bnlab-demo-backbone-'));
beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

describe('shipped demo backbone (assets/demo-backbone)', () => {
  it('is small: model files well under 1 MB', async () => {
    let total = 0;
    for (const file of ['model.json', 'weights.bin', 'backbone.json']) total += (await fs.stat(path.join(DEMO_BACKBONE_DIR, file))).size;
    expect(total).toBeLessThan(1024 * 1024);
    expect(total).toBeLessThan(400 * 1024);
  });

  it('loads with tf.loadLayersModel from files, with named BN layers, the cut layer and the classifier', async () => {
    const model = await tf.loadLayersModel(diskHandler(DEMO_BACKBONE_DIR));
    const { meta } = await loadDemoBackbone();
    const bnNames = batchNormLayers(model).map((l) => l.name);
    expect(bnNames.length).toBe(11);
    expect(bnNames).toContain('stem_bn');
    expect(bnNames).toContain('block1_dw_bn');
    expect(bnNames).toContain('block5_pw_bn');
    expect(meta.cutLayer).toBe(DEMO_CUT_LAYER);
    expect(model.getLayer(meta.cutLayer).getClassName()).toBe('ReLU');
    expect(meta).toMatchObject({ name: 'demo', inputSize: 64, preprocessing: 'minus1to1', trainedBy: 'tools/train-demo-backbone.ts' });
    expect(model.inputs[0].shape).toEqual([null, 64, 64, 3]);
    expect(model.getLayer(meta.classifierLayer).outputShape).toEqual([null, SOURCE_CLASSES.length]);
    // Convolutions feed BN without a bias, as in MobileNet.
    for (const layer of model.layers.filter((l) => /Conv2D/.test(l.getClassName()))) {
      expect((layer.getConfig() as { useBias: boolean }).useBias).toBe(false);
    }
    model.dispose();
  });

  it('classifies its own pretraining domain far above chance, as backbone.json says', async () => {
    const { model, meta } = await loadDemoBackbone();
    const { pixels, labels, size } = renderBatch(SOURCE_CLASSES, 'studio', 12, 4242, 'test-check');
    const x = preprocessMinus1To1(pixels, labels.length, size);
    const predicted = (model.predict(x) as tf.Tensor).argMax(-1).dataSync();
    const accuracy = labels.filter((l, i) => predicted[i] === l).length / labels.length;
    expect(accuracy).toBeGreaterThan(Math.max(0.5, meta.sourceValAccuracy - 0.15));
    x.dispose();
    model.dispose();
  });
});

describe('saveDemoBackbone', () => {
  it('round-trips a model through model.json + weights.bin and its backbone.json', async () => {
    const model = buildDemoBackbone({ numClasses: 3, seed: 1 });
    const meta: DemoBackboneMeta = { ...(await readDemoBackboneMeta()), pretrainingClasses: ['a', 'b', 'c'], seed: 1 };
    await saveDemoBackbone(tmp, model, meta);
    expect((await fs.readdir(tmp)).sort()).toEqual(['backbone.json', 'model.json', 'weights.bin']);
    const { model: loaded, meta: loadedMeta } = await loadDemoBackbone(tmp);
    expect(loadedMeta).toEqual(meta);
    const x = tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 3);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (loaded.predict(x) as tf.Tensor).dataSync();
    expect(Array.from(b)).toEqual(Array.from(a));
    x.dispose();
    model.dispose();
    loaded.dispose();
  });

  it('refuses a backbone.json without the registry sidecar fields, naming the file and field', async () => {
    const dir = path.join(tmp, 'bad');
    await fs.mkdir(dir);
    const { cutLayer: _dropped, ...rest } = await readDemoBackboneMeta();
    await fs.writeFile(path.join(dir, 'backbone.json'), JSON.stringify(rest));
    await expect(readDemoBackboneMeta(dir)).rejects.toThrow(/bad\/backbone\.json is invalid: cutLayer/);
  });
});
