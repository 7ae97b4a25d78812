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
import { scanUnlabelledImages } from '../data/scan.ts';
import { recalibrateBatchNorm } from '../stats/population.ts';
import { bnEpsilons, driftAll, snapshotBn } from '../stats/drift.ts';
import { writeLayersModel } from '../train/checkpoint.ts';
import { imageTensors, resolveDataPath } from '../train/experiment.ts';
import { writeFileAtomic } from '../runs/atomic-write.ts';

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
  // Every image of the folder is used, in any layout (one class, no classes, train/val): recalibration
  // learns no weights and reads no labels, so there is nothing to hold out and nothing to label.
  const found = await scanUnlabelledImages(resolveDataPath(opts.data), { roots: config.dataRoots });
  const items = found.files.map((file) => ({ path: file, label: 0 }));
  const dataset = new ImageDataset({ items, imageSize: backbone.entry.inputSize, preprocessing: backbone.entry.preprocessing, augment: null });
  const before = snapshotBn(backbone.model);
  await recalibrateBatchNorm(backbone.model, () => imageTensors(dataset, opts.batchSize), { onLayer: opts.onLayer });
  const after = snapshotBn(backbone.model);
  const layers = driftAll(after, before, bnEpsilons(backbone.model)).map(({ layer, meanShift, logVarRatio }) => ({ layer, meanShift, logVarRatio }));
  await writeLayersModel(opts.outDir, backbone.model, 'weights.bin', {
    bnlab: { recalibratedOn: found.root, images: items.length - dataset.skipped.length, source: backbone.name, time: new Date().toISOString() },
  });
  await writeFileAtomic(path.join(opts.outDir, 'recalibration.json'), JSON.stringify({ layers }, null, 2));
  backbone.model.dispose();
  return { outDir: opts.outDir, images: items.length - dataset.skipped.length, layers, skippedFiles: [...found.skipped, ...dataset.skipped] };
}
