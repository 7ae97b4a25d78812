/**
 * Recalibration benchmark: `recalibrateBatchNorm` (the single walk, server/stats/population.ts)
 * of MobileNet v1 α0.25@224 on the first `--images` training images of ants-bees, decoded
 * beforehand (decoding is not timed; the PyTorch peer times the same walk on in-memory tensors),
 * batches of `--batch`. Also times today's per-layer prefix implementation once, for the speed-up.
 *
 *   node --import tsx bench/recalibration.ts --data <ants-bees> [--images 100] [--batch 16] [--prefix 1]
 *     [--warmup N --iterations N --min-iterations N --budget-ms N]
 * Prints `BENCH_RESULT <json>` (RecalibrationResult).
 */
import * as tf from '@tensorflow/tfjs';
import { loadBackbone } from '../server/backbones/load.ts';
import { loadConfig } from '../server/config.ts';
import { ImageDataset } from '../server/data/dataset.ts';
import { scanImageFolder } from '../server/data/scan.ts';
import { selectBackend } from '../server/engine/backend.ts';
import { recalibrateBatchNorm, recalibrateBatchNormByPrefix, sliceBatches, type RecalibrationReport } from '../server/stats/population.ts';
import { benchArg, processUsage, runBenchChild } from './result-line.ts';
import { median, repeat } from './timing.ts';

export interface RecalibrationResult {
  status: 'ok' | 'unavailable' | 'error';
  message?: string;
  model: string;
  images: number;
  batch: number;
  bnLayers: number;
  /** seconds per single-walk recalibration (timed runs) and their median */
  walkSeconds: number[];
  medianWalkSeconds: number | null;
  /** one run of the per-layer prefix reference (null when not run) */
  prefixSeconds: number | null;
  /** the walk's held activations: peak bytes in memory / on disk */
  walkPeakHeldMiB: number | null;
  walkPeakSpilledMiB: number | null;
  /** whether the walk and the prefix reference wrote identical statistics */
  identicalToPrefix: boolean | null;
  cpuSeconds: number;
  peakRssMiB: number;
  wallSeconds?: number;
}

async function main(): Promise<RecalibrationResult> {
  const count = Number(benchArg('images', '100'));
  const batch = Number(benchArg('batch', '16'));
  const policy = { warmup: Number(benchArg('warmup', '1')), iterations: Number(benchArg('iterations', '3')), minIterations: Number(benchArg('min-iterations', '2')), budgetMs: Number(benchArg('budget-ms', '20000')) };
  const base = { model: 'mnv1-0.25-224', images: 0, batch, bnLayers: 0, walkSeconds: [], medianWalkSeconds: null, prefixSeconds: null, walkPeakHeldMiB: null, walkPeakSpilledMiB: null, identicalToPrefix: null };
  await selectBackend('wasm');
  let backbone;
  try {
    backbone = await loadBackbone('mobilenet_v1_0.25_224', loadConfig());
  } catch (error) {
    return { ...base, status: 'unavailable', message: (error as Error).message.split('\n')[0], ...processUsage() };
  }
  const split = await scanImageFolder(benchArg('data', ''), { valFraction: 0.2, seed: 0 });
  const dataset = new ImageDataset({ items: split.train.slice(0, count), imageSize: 224, preprocessing: backbone.entry.preprocessing, augment: null });
  const parts: tf.Tensor4D[] = [];
  for await (const b of dataset.batches({ batchSize: 32, shuffle: false, seed: 0, epoch: 0 })) parts.push(tf.tensor4d(b.images, [b.count, 224, 224, 3]));
  const images = tf.concat(parts) as tf.Tensor4D;
  tf.dispose(parts);
  const model = backbone.model;
  const original = model.getWeights().map((w) => w.clone());
  const reset = () => model.setWeights(original);

  let report: RecalibrationReport | null = null;
  let walkStats: Map<string, { mean: Float32Array; variance: Float32Array }> | null = null;
  const times = await repeat(policy, async () => {
    reset();
    const start = performance.now();
    walkStats = await recalibrateBatchNorm(model, sliceBatches(images, batch), { onReport: (r) => (report = r) });
    return (performance.now() - start) / 1000;
  });
  let prefixSeconds: number | null = null;
  let identical: boolean | null = null;
  if (benchArg('prefix', '1') !== '0') {
    reset();
    const start = performance.now();
    const prefixStats = await recalibrateBatchNormByPrefix(model, sliceBatches(images, batch));
    prefixSeconds = (performance.now() - start) / 1000;
    identical = [...prefixStats].every(([name, m]) => {
      const w = walkStats!.get(name);
      return !!w && w.mean.every((v, i) => v === m.mean[i]) && w.variance.every((v, i) => v === m.variance[i]);
    });
  }
  const r = report as RecalibrationReport | null;
  return {
    ...base,
    status: 'ok',
    images: images.shape[0],
    bnLayers: walkStats ? (walkStats as Map<string, unknown>).size : 0,
    walkSeconds: times,
    medianWalkSeconds: median(times),
    prefixSeconds,
    walkPeakHeldMiB: r ? r.peakMemoryBytes / 1024 ** 2 : null,
    walkPeakSpilledMiB: r ? r.peakDiskBytes / 1024 ** 2 : null,
    identicalToPrefix: identical,
    ...processUsage(),
  };
}

runBenchChild(main);
