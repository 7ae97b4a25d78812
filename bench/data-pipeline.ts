/**
 * Data pipeline throughput: images per second that server/data/dataset.ts ImageDataset delivers as
 * training batches (decode with sharp + random resized crop + flip + [-1, 1] scaling), first with
 * an empty decoded-image cache (cold: every file decoded) and then on later epochs (cached: crops
 * and flips only). No tfjs work is involved; the consumer takes batches as fast as they come.
 *
 *   node --import tsx bench/data-pipeline.ts --data <image folder> [--size 224] [--batch 16] \
 *     [--iterations N --warmup N --min-iterations N --budget-ms N]
 * Prints `BENCH_RESULT <json>` (PipelineResult) on stdout.
 */
import { DecodedImageCache, ImageDataset } from '../server/data/dataset.ts';
import { scanImageFolder } from '../server/data/scan.ts';
import { benchArg, processUsage, runBenchChild } from './result-line.ts';
import { median, repeat } from './timing.ts';

export interface PipelineResult {
  status: 'ok' | 'unavailable' | 'error';
  message?: string;
  data: string;
  imageSize: number;
  images: number;
  /** images/s of the first epoch, every image decoded */
  coldImagesPerSecond: number | null;
  /** images/s of later epochs, per epoch (timed ones), and their median */
  cachedImagesPerSecond: number[];
  medianCachedImagesPerSecond: number | null;
  decodes: number;
  cacheHits: number;
  cpuSeconds: number;
  peakRssMiB: number;
}


async function main(): Promise<PipelineResult> {
  const data = benchArg('data', '');
  const imageSize = Number(benchArg('size', '224'));
  const batchSize = Number(benchArg('batch', '16'));
  const base = { data, imageSize, images: 0, coldImagesPerSecond: null, cachedImagesPerSecond: [], medianCachedImagesPerSecond: null, decodes: 0, cacheHits: 0 };
  let split;
  try {
    split = await scanImageFolder(data, { valFraction: 0.2, seed: 0 });
  } catch (error) {
    return { ...base, status: 'unavailable', message: (error as Error).message, ...processUsage() };
  }
  const dataset = new ImageDataset({
    items: split.train,
    imageSize,
    preprocessing: 'minus1to1',
    augment: { randomResizedCrop: true, scale: [0.35, 1], horizontalFlip: true },
    cache: new DecodedImageCache(),
  });
  let epoch = 0;
  const oneEpoch = async (): Promise<number> => {
    const start = performance.now();
    let count = 0;
    for await (const batch of dataset.batches({ batchSize, shuffle: true, seed: 0, epoch: epoch++ })) count += batch.count;
    const seconds = (performance.now() - start) / 1000;
    return count / seconds;
  };
  const cold = await oneEpoch();
  const cachedRates: number[] = [];
  const cached = await repeat(
    { warmup: Number(benchArg('warmup', '1')), iterations: Number(benchArg('iterations', '5')), minIterations: Number(benchArg('min-iterations', '3')), budgetMs: Number(benchArg('budget-ms', '20000')) },
    // repeat() gets each epoch's milliseconds (for its time budget); the rate is kept aside
    async () => {
      const start = performance.now();
      const rate = await oneEpoch();
      cachedRates.push(rate);
      return performance.now() - start;
    },
  );
  const timedRates = cachedRates.slice(-cached.length);
  return {
    ...base,
    status: 'ok',
    images: dataset.size,
    coldImagesPerSecond: cold,
    cachedImagesPerSecond: timedRates,
    medianCachedImagesPerSecond: median(timedRates),
    decodes: dataset.decodeStats.decodes,
    cacheHits: dataset.decodeStats.cacheHits,
    ...processUsage(),
  };
}
runBenchChild(main);
