/**
 * Checks the premise of the embedded demo with the shipped backbone, and prints what it measures:
 * `node --import tsx tools/check-shift.ts [--seed 0] [--per-class-train 60] [--per-class-val 30]`
 *
 * 1. Per BN layer, the statistics of its input under the frozen pretrained backbone, vs the stored
 *    (pretraining) statistics: meanShift and logVarRatio as defined in stats/drift.ts,
 *    on the target training data and, as a control, on held-out source-domain images.
 * 2. Pooled features -> nearest-centroid and linear-probe accuracy on the target task's val split, with
 *    (a) the frozen pretrained BN statistics, (b) BN statistics recomputed on the target training data
 *    (PreciseBN, stats/population.ts recalibrateBatchNorm), and as a control
 *    (c) the same target classes rendered in the source style, frozen BN.
 * The images are exactly those of the default demo dataset (same seeds as make-dataset.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { DEMO_BACKBONE_DIR, loadDemoBackbone, preprocessMinus1To1 } from '../server/demo/backbone-files.ts';
import { DEMO_DATASET_STYLE } from '../server/demo/make-dataset.ts';
import { selectBackend } from '../server/engine/backend.ts';
import { bnEpsilons, driftAll, snapshotBn } from '../server/stats/drift.ts';
import { measureBatchNormInputs, recalibrateBatchNorm, sliceBatches, type ChannelMoments } from '../server/stats/population.ts';
import { linearProbeAccuracy, nearestCentroidAccuracy, type LabelledFeatures } from './probes.ts';
import { renderBatch, SOURCE_CLASSES, TARGET_CLASSES, type DomainStyle } from '../server/demo/synthetic.ts';

export interface ShiftCheckOptions {
  backboneDir?: string;
  seed?: number;
  perClassTrain?: number;
  perClassVal?: number;
}

export interface LayerShift {
  layer: string;
  /** Target training data through the frozen backbone vs stored statistics. */
  targetMeanShift: number;
  targetLogVarianceRatio: number;
  /** Held-out source-style images of the pretraining classes: what "no shift" looks like. */
  sourceMeanShift: number;
  sourceLogVarianceRatio: number;
}

export interface ProbeScores {
  nearestCentroid: number;
  linearProbe: number;
  linearProbeTrain: number;
}

export interface ShiftReport {
  layers: LayerShift[];
  frozenBn: ProbeScores;
  recomputedBn: ProbeScores;
  sourceStyleFrozenBn: ProbeScores;
  trainImages: number;
  valImages: number;
}

const BATCH_SIZE = 32;

function targetSplit(style: DomainStyle, split: 'train' | 'val', perClass: number, seed: number) {
  const { pixels, labels, size } = renderBatch(TARGET_CLASSES, style, perClass, seed, split);
  return { images: preprocessMinus1To1(pixels, labels.length, size), labels };
}

export async function measureDomainShift(options: ShiftCheckOptions = {}): Promise<ShiftReport> {
  const { backboneDir = DEMO_BACKBONE_DIR, seed = 0, perClassTrain = 60, perClassVal = 30 } = options;
  const { model, meta } = await loadDemoBackbone(backboneDir);
  const classifier = model.getLayer(meta.classifierLayer);
  const featureModel = tf.model({ inputs: model.inputs, outputs: classifier.input as tf.SymbolicTensor });
  const features = (images: tf.Tensor4D, labels: number[]): LabelledFeatures => ({
    features: featureModel.predict(images, { batchSize: BATCH_SIZE }) as tf.Tensor2D,
    labels,
  });
  const probe = (train: LabelledFeatures, val: LabelledFeatures): ProbeScores => {
    const linear = linearProbeAccuracy(train, val, TARGET_CLASSES.length);
    return { nearestCentroid: nearestCentroidAccuracy(train, val, TARGET_CLASSES.length), linearProbe: linear.val, linearProbeTrain: linear.train };
  };

  const train = targetSplit(DEMO_DATASET_STYLE, 'train', perClassTrain, seed);
  const val = targetSplit(DEMO_DATASET_STYLE, 'val', perClassVal, seed);
  const studioTrain = targetSplit('studio', 'train', perClassTrain, seed);
  const studioVal = targetSplit('studio', 'val', perClassVal, seed);
  const source = renderBatch(SOURCE_CLASSES, 'studio', Math.ceil((perClassTrain * TARGET_CLASSES.length) / SOURCE_CLASSES.length), seed, 'check-source');
  const sourceImages = preprocessMinus1To1(source.pixels, source.labels.length, source.size);

  // 1. Shift of each BN layer's input, frozen backbone: measured statistics as the "current" state.
  const stored = snapshotBn(model);
  const epsilons = bnEpsilons(model);
  const shiftOf = async (images: tf.Tensor4D) => {
    const measured = await measureBatchNormInputs(model, sliceBatches(images, BATCH_SIZE));
    const asState = ([name, m]: [string, ChannelMoments]) => [name, { ...stored.get(name)!, mean: m.mean, variance: m.variance }] as const;
    return driftAll(new Map([...measured.layers].map(asState)), stored, epsilons);
  };
  const targetShift = await shiftOf(train.images);
  const sourceShift = await shiftOf(sourceImages);
  const layers = targetShift.map((t, i) => ({
    layer: t.layer,
    targetMeanShift: t.meanShift,
    targetLogVarianceRatio: t.logVarRatio,
    sourceMeanShift: sourceShift[i].meanShift,
    sourceLogVarianceRatio: sourceShift[i].logVarRatio,
  }));

  // 2. Probes: frozen (and the source-style control) first, then recompute BN on the target train data.
  const scoreWith = (a: { images: tf.Tensor4D; labels: number[] }, b: { images: tf.Tensor4D; labels: number[] }) => {
    const trainFeatures = features(a.images, a.labels);
    const valFeatures = features(b.images, b.labels);
    const scores = probe(trainFeatures, valFeatures);
    tf.dispose([trainFeatures.features, valFeatures.features]);
    return scores;
  };
  const frozenBn = scoreWith(train, val);
  const sourceStyleFrozenBn = scoreWith(studioTrain, studioVal);
  await recalibrateBatchNorm(model, sliceBatches(train.images, BATCH_SIZE));
  const recomputedBn = scoreWith(train, val);

  tf.dispose([train.images, val.images, studioTrain.images, studioVal.images, sourceImages]);
  model.dispose();
  return { layers, frozenBn, recomputedBn, sourceStyleFrozenBn, trainImages: train.labels.length, valImages: val.labels.length };
}

function formatReport(report: ShiftReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  const lines = [
    `BN input statistics under the frozen backbone vs stored (pretraining) statistics`,
    `${'layer'.padEnd(16)} ${'target shift'.padStart(12)} ${'target |logvar|'.padStart(16)} ${'source shift'.padStart(12)} ${'source |logvar|'.padStart(16)}`,
    ...report.layers.map(
      (l) =>
        `${l.layer.padEnd(16)} ${l.targetMeanShift.toFixed(3).padStart(12)} ${l.targetLogVarianceRatio.toFixed(3).padStart(16)} ` +
        `${l.sourceMeanShift.toFixed(3).padStart(12)} ${l.sourceLogVarianceRatio.toFixed(3).padStart(16)}`,
    ),
    '',
    `Target task (${TARGET_CLASSES.join(', ')}), ${report.trainImages} train / ${report.valImages} val images; val accuracy on pooled features`,
    `${'BN statistics'.padEnd(44)} ${'nearest centroid'.padStart(16)} ${'linear probe'.padStart(12)} ${'(probe train)'.padStart(13)}`,
    ...(
      [
        [`frozen pretrained, ${DEMO_DATASET_STYLE} style`, report.frozenBn],
        [`recomputed on target train, ${DEMO_DATASET_STYLE} style`, report.recomputedBn],
        ['frozen pretrained, studio style (control)', report.sourceStyleFrozenBn],
      ] as const
    ).map(([name, s]) => `${name.padEnd(44)} ${pct(s.nearestCentroid).padStart(16)} ${pct(s.linearProbe).padStart(12)} ${pct(s.linearProbeTrain).padStart(13)}`),
  ];
  return lines.join('\n');
}

function parseArgs(argv: string[]): ShiftCheckOptions {
  const options: ShiftCheckOptions = {};
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (argv[i] === '--seed') options.seed = value;
    else if (argv[i] === '--per-class-train') options.perClassTrain = value;
    else if (argv[i] === '--per-class-val') options.perClassVal = value;
    else if (argv[i] === '--backbone') options.backboneDir = argv[i + 1];
    else throw new Error(`unknown flag ${argv[i]}`);
  }
  return options;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`backend: ${await selectBackend()}`);
  console.log(formatReport(await measureDomainShift(parseArgs(process.argv.slice(2)))));
}
