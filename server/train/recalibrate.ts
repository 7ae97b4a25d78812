/**
 * `recalibrate`: recompute every BN layer's running statistics of a pretrained backbone on an image
 * folder (PreciseBN semantics, stats/population.ts) and write the whole model, loadable with
 * `tf.loadLayersModel`. Nothing else changes: weights, gamma/beta and the original classifier stay.
 */
import path from 'node:path';
import type { BnlabConfig } from '../config.ts';
import { selectBackend } from '../engine/backend.ts';
import { loadBackbone } from '../backbones/load.ts';
import { ImageDataset } from '../data/dataset.ts';
import { diskImageCache } from '../data/disk-cache.ts';
import { scanImageFolder } from '../data/scan.ts';
import { recalibrateBatchNorm } from '../stats/population.ts';
import { bnEpsilons, driftAll, snapshotBn } from '../stats/drift.ts';
import { writeLayersModel } from './checkpoint.ts';
import { imageTensors, resolveDataPath } from './experiment.ts';
import { writeFileAtomic } from './atomic-write.ts';

export interface RecalibrationResult {
  outDir: string;
  images: number;
  layers: { layer: string; meanShift: number; logVarRatio: number }[];
  skippedFiles: { path: string; reason: string }[];
}

export async function recalibrateBackbone(
  opts: { backbone: string; data: string; outDir: string; batchSize: number; backend?: string | null; onLayer?: (done: number, total: number, name: string) => void },
  config: BnlabConfig,
): Promise<RecalibrationResult> {
  await selectBackend(opts.backend ?? config.backend);
  const backbone = await loadBackbone(opts.backbone, config);
  const split = await scanImageFolder(resolveDataPath(opts.data), { valFraction: 0.2, seed: 0 });
  // Every image of the folder is used: recalibration learns no weights, so there is nothing to hold out.
  const items = [...split.train, ...split.val];
  const dataset = new ImageDataset({ items, imageSize: backbone.entry.inputSize, preprocessing: backbone.entry.preprocessing, augment: null, diskCache: diskImageCache(config.cacheDir) });
  const before = snapshotBn(backbone.model);
  await recalibrateBatchNorm(backbone.model, () => imageTensors(dataset, opts.batchSize), { onLayer: opts.onLayer });
  const after = snapshotBn(backbone.model);
  const layers = driftAll(after, before, bnEpsilons(backbone.model)).map(({ layer, meanShift, logVarRatio }) => ({ layer, meanShift, logVarRatio }));
  await writeLayersModel(opts.outDir, backbone.model, 'weights.bin', {
    bnlab: { recalibratedOn: split.root, images: items.length - dataset.skipped.length, source: backbone.name, time: new Date().toISOString() },
  });
  await writeFileAtomic(path.join(opts.outDir, 'recalibration.json'), JSON.stringify({ layers }, null, 2));
  backbone.model.dispose();
  return { outDir: opts.outDir, images: items.length - dataset.skipped.length, layers, skippedFiles: [...split.skipped, ...dataset.skipped] };
}
