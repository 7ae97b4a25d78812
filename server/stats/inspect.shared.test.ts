/**
 * inspect on the real MobileNet v1 and real data: the recommendation separates the ImageNet-like
 * set from the MNIST one. Forward-only, so on the wasm backend.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { inspectBatchNorm } from './inspect.ts';
import { decodeImages, listImages, loadLayersModelFromDir, sliceBatches } from '../../test/support/shared-fixtures.ts';

const modelsDir = process.env.BNLAB_MODELS_DIR;
const sharedData = process.env.BNLAB_SHARED_DATA;

describe.skipIf(!modelsDir || !sharedData)('inspect on MobileNet v1 α0.25 with shared data', () => {
  let model: tf.LayersModel;
  beforeAll(async () => {
    expect(await tf.setBackend('wasm')).toBe(true);
    model = await loadLayersModelFromDir(path.join(modelsDir!, 'mobilenet_v1_0.25_224'));
  });

  async function inspectSet(set: string) {
    const images = await decodeImages(await listImages(path.join(sharedData!, set, 'train'), 32), 224);
    const report = await inspectBatchNorm(model, sliceBatches(images, 16), { batchSize: 16 });
    images.dispose();
    return report;
  }

  it('ants-bees (ImageNet photos) keeps the pretrained statistics; digits gets them recomputed', async () => {
    const antsBees = await inspectSet('ants-bees');
    const digits = await inspectSet('digits');
    expect(antsBees.layers).toHaveLength(27);
    expect(antsBees.images).toBe(32);
    expect(antsBees.recommendation.policy).toBe('freeze-all');
    expect(antsBees.lint).toEqual([]); // no conv biases before BN in MobileNet v1, batch 16
    expect(digits.recommendation.policy).toBe('adabn');
    expect(digits.summary.medianSymmetricKl).toBeGreaterThan(5 * antsBees.summary.medianSymmetricKl);
    // conv1_bn sees raw pixel statistics: grey MNIST strokes are far from ImageNet photos there.
    expect(digits.ranking.slice(0, 3)).toContain('conv1_bn');
  });
});
