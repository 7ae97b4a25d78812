/**
 * Recalibration on the real shared backbones. Forward-only work, so it runs on the wasm backend
 * (the cpu backend needs ~100 s for the same checks on two cores); the direct reference runs on
 * the same backend.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { recalibrateBatchNorm, recalibrateBatchNormByPrefix, type ChannelMoments } from './population.ts';
import { readBnState } from './drift.ts';
import { decodeImages, listImages, loadLayersModelFromDir, sliceBatches } from '../../test/support/shared-fixtures.ts';
import { directMoments, expectClose } from '../../test/support/reference-moments.ts';

const modelsDir = process.env.BNLAB_MODELS_DIR;
const sharedData = process.env.BNLAB_SHARED_DATA;

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
});

describe.skipIf(!modelsDir || !sharedData)('on the shared pretrained models', () => {
  async function realImages(count: number): Promise<tf.Tensor4D> {
    const samples = await listImages(path.join(modelsDir!, 'samples'), 3);
    const antsBees = await listImages(path.join(sharedData!, 'ants-bees', 'train'), count - samples.length);
    return decodeImages([...samples, ...antsBees], 224);
  }

  function compareWithDirect(model: tf.LayersModel, bnLayer: tf.layers.Layer, images: tf.Tensor4D, written: ChannelMoments, container: tf.LayersModel = model) {
    // Directly: the prefix of the (already recalibrated) network up to the layer's input, whole set at once.
    const expected = tf.tidy(() => {
      const prefix = tf.model({ inputs: container.inputs, outputs: bnLayer.getInputAt(0) as tf.SymbolicTensor });
      return directMoments(prefix.predict(images) as tf.Tensor);
    });
    expectClose(written.mean, expected.mean, 1e-4, 1e-5);
    expectClose(written.variance, expected.variance, 1e-4, 1e-5);
    expectClose(readBnState(bnLayer).mean, expected.mean, 1e-4, 1e-5);
    expectClose(readBnState(bnLayer).variance, expected.variance, 1e-4, 1e-5);
  }

  it('MobileNet v1: recalibrated conv1_bn and conv_pw_13_bn hold the population stats of their inputs', async () => {
    const model = await loadLayersModelFromDir(path.join(modelsDir!, 'mobilenet_v1_0.25_224'));
    const images = await realImages(6);
    const pretrained = readBnState(model.getLayer('conv1_bn'));
    const before = tf.memory().numTensors;
    const written = await recalibrateBatchNorm(model, sliceBatches(images, 4));
    expect(tf.memory().numTensors).toBe(before);
    expect(written.size).toBe(27);

    // conv1_bn, fully independent of the model graph: conv1 applied to the images.
    const conv1Output = tf.tidy(() => directMoments(model.getLayer('conv1').apply(images) as tf.Tensor));
    expectClose(written.get('conv1_bn')!.mean, conv1Output.mean, 1e-4, 1e-5);
    expectClose(written.get('conv1_bn')!.variance, conv1Output.variance, 1e-4, 1e-5);
    expect(written.get('conv1_bn')!.count).toBe(6 * 112 * 112);
    expect(Array.from(written.get('conv1_bn')!.mean)).not.toEqual(Array.from(pretrained.mean));

    compareWithDirect(model, model.getLayer('conv1_bn'), images, written.get('conv1_bn')!);
    compareWithDirect(model, model.getLayer('conv_pw_13_bn'), images, written.get('conv_pw_13_bn')!);
    images.dispose();
    model.dispose();
  });

  it('Teachable Machine MobileNetV2 (nested containers): every BN layer is recalibrated', async () => {
    const model = await loadLayersModelFromDir(path.join(modelsDir!, 'teachable_mobilenet_v2_0.35_224'));
    const images = await realImages(4);
    const predictionBefore = model.predict(images) as tf.Tensor;
    const written = await recalibrateBatchNorm(model, sliceBatches(images, 3));
    expect(written.size).toBe(52);
    const model3 = (model.layers[0] as tf.Sequential).layers[0] as tf.LayersModel;
    expect(model3.name).toBe('model3');
    compareWithDirect(model, model3.getLayer('bn_Conv1'), images, written.get('bn_Conv1')!, model3);
    compareWithDirect(model, model3.getLayer('Conv_1_bn'), images, written.get('Conv_1_bn')!, model3);
    const predictionAfter = model.predict(images) as tf.Tensor;
    expect(predictionAfter.shape).toEqual([4, 2]);
    expect(tf.max(tf.abs(predictionAfter.sub(predictionBefore))).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([images, predictionBefore, predictionAfter]);
    model.dispose();
  });

  it('Teachable Machine MobileNetV2: the single walk (residuals held across blocks) equals the per-layer prefix reference bit for bit', async () => {
    const dir = path.join(modelsDir!, 'teachable_mobilenet_v2_0.35_224');
    const [walked, reference] = [await loadLayersModelFromDir(dir), await loadLayersModelFromDir(dir)];
    const images = await realImages(5);
    const method: string[] = [];
    const walk = await recalibrateBatchNorm(walked, sliceBatches(images, 3), { onReport: (r) => method.push(r.method) });
    const prefix = await recalibrateBatchNormByPrefix(reference, sliceBatches(images, 3));
    expect(method).toEqual(['walk']);
    expect([...walk.keys()]).toEqual([...prefix.keys()]);
    for (const [name, moments] of prefix) {
      expect({ name, mean: Array.from(walk.get(name)!.mean), variance: Array.from(walk.get(name)!.variance) }).toEqual({ name, mean: Array.from(moments.mean), variance: Array.from(moments.variance) });
    }
    images.dispose();
    walked.dispose();
    reference.dispose();
  });
});
