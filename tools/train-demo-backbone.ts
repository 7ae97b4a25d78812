/**
 * Trains bnlab's embedded demo backbone and writes assets/demo-backbone/{model.json, weights.bin,
 * backbone.json}. Run: `node --import tsx tools/train-demo-backbone.ts [--epochs 2] [--per-class 120]`.
 *
 * Pretraining task: the 8 SOURCE_CLASSES in the 'studio' style (server/demo/synthetic.ts). Every epoch
 * renders fresh images (new seeds), so the network never sees the same image twice. Backend: bnlab's
 * default, wasm with bnlab's gradient kernels (server/engine/backend.ts; BNLAB_BACKEND overrides).
 * Everything is seeded: same arguments and backend, same weights.
 *
 * Training runs the BN layers with momentum 0.9 so that the per-epoch validation (inference mode)
 * means something after a few hundred steps; afterwards the BN running statistics are replaced by
 * exact population statistics over source images (PreciseBN), so the shipped "pretrained statistics"
 * are the source domain's, not a lagging EMA. Accuracy is reported both ways. The weights are then
 * copied into the same architecture with the Keras default momentum 0.99, which is what ships.
 */
import path from 'node:path';
import fs from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { buildDemoBackbone, DEMO_CLASSIFIER_NAME, DEMO_CUT_LAYER, DEMO_INPUT_SIZE } from '../server/demo/architecture.ts';
import { DEMO_BACKBONE_DIR, preprocessMinus1To1, saveDemoBackbone } from '../server/demo/backbone-files.ts';
import { renderBatch, SOURCE_CLASSES } from '../server/demo/synthetic.ts';
import { createRng, shuffleInPlace } from '../server/data/random.ts';
import { selectBackend } from '../server/engine/backend.ts';
import { recalibrateBatchNorm, sliceBatches } from '../server/stats/population.ts';

interface TrainOptions {
  epochs: number;
  perClass: number;
  valPerClass: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  outDir: string;
}

function parseArgs(argv: string[]): TrainOptions {
  const options: TrainOptions = { epochs: 8, perClass: 40, valPerClass: 40, batchSize: 8, learningRate: 2e-3, seed: 7, outDir: DEMO_BACKBONE_DIR };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    const number = Number(value);
    switch (flag) {
      case '--epochs': options.epochs = number; break;
      case '--per-class': options.perClass = number; break;
      case '--val-per-class': options.valPerClass = number; break;
      case '--batch-size': options.batchSize = number; break;
      case '--lr': options.learningRate = number; break;
      case '--seed': options.seed = number; break;
      case '--out': options.outDir = path.resolve(value); break;
      default: throw new Error(`unknown flag ${flag}`);
    }
  }
  return options;
}

/** Source-style images of the pretraining classes, shuffled with a seeded permutation. */
function sourceSet(split: string, perClass: number, seed: number, shuffle: boolean) {
  const { pixels, labels } = renderBatch(SOURCE_CLASSES, 'studio', perClass, seed, split, DEMO_INPUT_SIZE);
  const order = labels.map((_, i) => i);
  if (shuffle) shuffleInPlace(order, createRng(seed ^ 0x5eed));
  const imageBytes = DEMO_INPUT_SIZE * DEMO_INPUT_SIZE * 3;
  const shuffled = new Uint8Array(pixels.length);
  order.forEach((from, to) => shuffled.set(pixels.subarray(from * imageBytes, (from + 1) * imageBytes), to * imageBytes));
  const x = preprocessMinus1To1(shuffled, order.length, DEMO_INPUT_SIZE);
  const y = tf.oneHot(tf.tensor1d(order.map((i) => labels[i]), 'int32'), SOURCE_CLASSES.length);
  return { x, y };
}

function accuracy(model: tf.LayersModel, x: tf.Tensor4D, y: tf.Tensor): number {
  return tf.tidy(() => {
    const predicted = (model.predict(x, { batchSize: 64 }) as tf.Tensor).argMax(-1);
    return predicted.equal(y.argMax(-1)).mean().dataSync()[0];
  });
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const backend = await selectBackend();
  console.log(`backend: ${backend} (tfjs ${tf.version.tfjs}); options: ${JSON.stringify({ ...options, outDir: path.relative(process.cwd(), options.outDir) })}`);

  const model = buildDemoBackbone({ numClasses: SOURCE_CLASSES.length, seed: options.seed, bnMomentum: 0.9 });
  model.compile({ optimizer: tf.train.adam(options.learningRate), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const val = sourceSet('val', options.valPerClass, options.seed, false);

  const started = Date.now();
  let lastEpochImages: tf.Tensor4D | null = null;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const train = sourceSet(`train-epoch${epoch}`, options.perClass, options.seed, true);
    const history = await model.fit(train.x, train.y, { batchSize: options.batchSize, epochs: 1, shuffle: false, verbose: 0 });
    const loss = history.history.loss[0] as number;
    const trainAcc = history.history.acc?.[0] ?? history.history.accuracy?.[0];
    console.log(
      `epoch ${epoch + 1}/${options.epochs}: loss ${loss.toFixed(4)}, train acc ${Number(trainAcc).toFixed(3)}, ` +
        `source val acc ${accuracy(model, val.x, val.y).toFixed(3)}, ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
    lastEpochImages?.dispose();
    lastEpochImages = train.x;
    train.y.dispose();
  }
  const trainSeconds = (Date.now() - started) / 1000;
  const emaAccuracy = accuracy(model, val.x, val.y);
  await recalibrateBatchNorm(model, sliceBatches(lastEpochImages!, 32));
  const preciseAccuracy = accuracy(model, val.x, val.y);
  console.log(`source val accuracy: ${emaAccuracy.toFixed(4)} with EMA BN statistics, ${preciseAccuracy.toFixed(4)} with population statistics`);

  const shipped = buildDemoBackbone({ numClasses: SOURCE_CLASSES.length, seed: options.seed, bnMomentum: 0.99 });
  shipped.setWeights(model.getWeights());
  await saveDemoBackbone(options.outDir, shipped, {
    name: 'demo',
    cutLayer: DEMO_CUT_LAYER,
    inputSize: DEMO_INPUT_SIZE,
    preprocessing: 'minus1to1',
    classifierLayer: DEMO_CLASSIFIER_NAME,
    pretrainingClasses: [...SOURCE_CLASSES],
    pretrainingStyle: 'studio',
    trainedBy: 'tools/train-demo-backbone.ts',
    seed: options.seed,
    trainImages: options.epochs * options.perClass * SOURCE_CLASSES.length,
    sourceValAccuracy: Number(preciseAccuracy.toFixed(4)),
    sourceValAccuracyEmaBn: Number(emaAccuracy.toFixed(4)),
    trainSeconds: Math.round(trainSeconds),
    backend,
    tfjsVersion: tf.version.tfjs,
  });
  const sizes = await Promise.all(['model.json', 'weights.bin', 'backbone.json'].map(async (f) => (await fs.stat(path.join(options.outDir, f))).size));
  console.log(`wrote ${options.outDir}: ${sizes.reduce((a, b) => a + b, 0)} bytes in total`);
}

await main();
