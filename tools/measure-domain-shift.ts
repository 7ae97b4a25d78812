/**
 * Reproduces the numbers behind inspect.ts' recommendation thresholds: median BN drift of each
 * shared data set against each shared backbone's pretrained statistics.
 *   BNLAB_MODELS_DIR=/work/shared/models BNLAB_SHARED_DATA=/work/shared/data \
 *     node --import tsx tools/measure-domain-shift.ts [imagesPerSet=64]
 * Forward-only, on the wasm backend.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { inspectBatchNorm } from '../server/stats/inspect.ts';
import { decodeImages, listImages, loadLayersModelFromDir, sliceBatches } from '../test/support/shared-fixtures.ts';

const modelsDir = process.env.BNLAB_MODELS_DIR;
const dataDir = process.env.BNLAB_SHARED_DATA;
if (!modelsDir || !dataDir) throw new Error('set BNLAB_MODELS_DIR and BNLAB_SHARED_DATA');
const perSet = Number(process.argv[2] ?? 64);

await tf.setBackend('wasm');
for (const backbone of ['mobilenet_v1_0.25_224', 'teachable_mobilenet_v2_0.35_224']) {
  const model = await loadLayersModelFromDir(path.join(modelsDir, backbone));
  for (const set of ['ants-bees', 'digits', 'fashion-mnist-mini']) {
    const images = await decodeImages(await listImages(path.join(dataDir, set, 'train'), perSet), 224);
    const report = await inspectBatchNorm(model, sliceBatches(images, 16));
    images.dispose();
    const s = report.summary;
    console.log(
      `${backbone} ${set} (${report.images} images): median meanShift ${s.medianMeanShift.toFixed(3)}, ` +
        `median logVarRatio ${s.medianLogVarRatio.toFixed(3)}, median symmetricKl ${s.medianSymmetricKl.toFixed(3)}; ` +
        `top: ${report.ranking.slice(0, 3).join(', ')}; -> ${report.recommendation.policy}`,
    );
  }
  model.dispose();
}
