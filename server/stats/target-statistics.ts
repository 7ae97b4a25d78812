/**
 * Test-time BN statistics adaptation (`adapt --method stats`): the model's BatchNorm statistics
 * replaced by the exact population statistics of unlabelled target images (recalibrateBatchNorm,
 * population.ts: layer by layer, upstream layers already adapted, biased variance), optionally
 * mixed with the source statistics the model holds now, with pseudo sample size N (Schneider et
 * al. 2020, prior-mix.ts: weight N/(N+n) on the source, n = number of target images).
 * With a prior, each layer is measured with its upstream layers already holding the MIXED
 * statistics, i.e. exactly the network that will run at inference.
 * Labels are not used; gamma/beta and every other weight stay as they are.
 */
import type * as tf from '@tensorflow/tfjs';
import { snapshotBn } from './drift.ts';
import { recalibrateBatchNorm, type BatchSource, type ChannelMoments } from './population.ts';
import { mixWithPrior } from './prior-mix.ts';

export interface AdaptStatisticsOptions {
  /** pseudo sample size N of the source statistics; null/undefined = target statistics only */
  priorN?: number | null;
  onLayer?: (done: number, total: number, name: string) => void;
}

export interface AdaptedStatistics {
  /** what each BN layer now holds, keyed by layer name */
  layers: Map<string, ChannelMoments>;
  /** target images seen (n) */
  images: number;
  /** N / (N + n): weight of the source statistics (0 without a prior) */
  sourceWeight: number;
}

export async function adaptStatistics(model: tf.LayersModel, batches: BatchSource, opts: AdaptStatisticsOptions = {}): Promise<AdaptedStatistics> {
  const priorN = opts.priorN ?? null;
  if (priorN !== null && !(priorN >= 0 && Number.isFinite(priorN))) throw new RangeError(`prior N must be a finite number >= 0, got ${priorN}`);
  const source = snapshotBn(model);
  // n is counted on the first pass (the first BN layer's), which ends before anything is combined.
  let images = 0;
  let firstPass = true;
  const counted: BatchSource = () =>
    (async function* () {
      for await (const batch of batches()) {
        if (firstPass) images += batch.shape[0];
        yield batch;
      }
      firstPass = false;
    })();
  const combine =
    priorN === null
      ? undefined
      : (layer: string, population: ChannelMoments) => mixWithPrior(source.get(layer)!, population, priorN, images);
  const layers = await recalibrateBatchNorm(model, counted, { onLayer: opts.onLayer, combine });
  return { layers, images, sourceWeight: priorN === null ? 0 : priorN / (priorN + images) };
}
