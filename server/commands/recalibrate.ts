/**
 * `recalibrate`: recompute every BN layer's running statistics of a pretrained model on an image
 * folder (PreciseBN semantics, stats/population.ts) and write the whole model, loadable with
 * `tf.loadLayersModel`. Nothing else changes: weights, gamma/beta and the original classifier stay.
 *
 * The output folder is a model bnlab uses like any other: model.json `userDefinedMetadata.bnlab`
 * describes it as a classifier (classes, input size, preprocessing; for `predict` and `export`), a
 * backbone.json states its preprocessing, input size and cut layer (for `train`/`inspect
 * --backbone`), and a Teachable Machine source gets its metadata.json back (labels kept), so the
 * @teachablemachine/image library loads the recalibrated model as it loaded the original.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BnlabConfig } from '../config.ts';
import { selectBackend } from '../engine/backend.ts';
import { loadBackbone, type LoadedBackbone } from '../backbones/load.ts';
import type { ModelDescriptionMeta } from '../backbones/model-description.ts';
import { SIDECAR_FILE } from '../backbones/registry.ts';
import { backboneSetup } from '../backbones/setup.ts';
import { type BackboneSetup } from '../schema/backbone-setup.ts';
import { TEACHABLE_METADATA_FILE, teachableMetadataFor } from '../backbones/teachable-machine.ts';
import { ImageDataset } from '../data/dataset.ts';
import { diskImageCache } from '../data/disk-cache.ts';
import { scanUnlabelledImages } from '../data/scan.ts';
import type { Preprocessing } from '../schema/preprocessing.ts';
import { recalibrateBatchNorm } from '../stats/population.ts';
import { bnEpsilons, driftAll, snapshotBn } from '../stats/drift.ts';
import { writeLayersModel } from '../train/checkpoint.ts';
import { imageTensors, resolveDataPath } from '../train/experiment.ts';
import { writeFileAtomic } from '../runs/atomic-write.ts';

export interface RecalibrationResult {
  outDir: string;
  setup: BackboneSetup;
  images: number;
  layers: { layer: string; meanShift: number; logVarRatio: number }[];
  skippedFiles: { path: string; reason: string }[];
}

export interface RecalibrationOptions {
  backbone: string;
  data: string;
  outDir: string;
  batchSize: number;
  backend?: string | null;
  /** stated pixel scaling (--preprocessing); required when the model states none */
  preprocessing?: Preprocessing | null;
  onSetup?: (setup: BackboneSetup) => void;
  onLayer?: (done: number, total: number, name: string) => void;
}

/**
 * Class names of the model's own classifier, in output order: Teachable Machine labels, else an
 * `imagenet_classes.json` beside the model with as many names as outputs, else class_0 … class_k-1.
 * Empty when the model ends in features (not a [batch, k] output).
 */
function classNames(backbone: LoadedBackbone): string[] {
  const shape = backbone.model.outputs[0]?.shape ?? [];
  const width = shape.length === 2 ? shape[1] : null;
  if (typeof width !== 'number') return [];
  if (backbone.teachable && backbone.teachable.labels.length === width) return backbone.teachable.labels;
  const imagenet = path.join(backbone.source.dir, 'imagenet_classes.json');
  if (fs.existsSync(imagenet)) {
    try {
      const names = JSON.parse(fs.readFileSync(imagenet, 'utf8')) as unknown;
      if (Array.isArray(names) && names.length === width) return names.map(String);
    } catch {
      // fall through to numbered names
    }
  }
  return Array.from({ length: width }, (_, i) => `class_${i}`);
}

export async function recalibrateBackbone(opts: RecalibrationOptions, config: BnlabConfig): Promise<RecalibrationResult> {
  await selectBackend(opts.backend ?? config.backend);
  const backbone = await loadBackbone(opts.backbone, config, { preprocessing: opts.preprocessing });
  const setup = backboneSetup(backbone);
  opts.onSetup?.(setup);
  const { inputSize, preprocessing, cutLayer } = backbone.entry;
  // Every image of the folder is used, in any layout (one class, no classes, train/val): recalibration
  // learns no weights and reads no labels, so there is nothing to hold out and nothing to label.
  const found = await scanUnlabelledImages(resolveDataPath(opts.data), { roots: config.dataRoots });
  const items = found.files.map((file) => ({ path: file, label: 0 }));
  const dataset = new ImageDataset({ items, imageSize: inputSize, preprocessing, augment: null, diskCache: diskImageCache(config.cacheDir) });
  const before = snapshotBn(backbone.model);
  await recalibrateBatchNorm(backbone.model, () => imageTensors(dataset, opts.batchSize), { onLayer: opts.onLayer });
  const after = snapshotBn(backbone.model);
  const layers = driftAll(after, before, bnEpsilons(backbone.model)).map(({ layer, meanShift, logVarRatio }) => ({ layer, meanShift, logVarRatio }));
  const images = items.length - dataset.skipped.length;
  const classes = classNames(backbone);
  const note = { recalibratedOn: found.root, images, source: backbone.name, time: new Date().toISOString() };
  const bnlab: ModelDescriptionMeta = { format: 'bnlab-recalibrated@1', classes, inputSize, preprocessing, cutLayer, ...note };
  await writeLayersModel(opts.outDir, backbone.model, 'weights.bin', { bnlab });
  await writeFileAtomic(path.join(opts.outDir, SIDECAR_FILE), JSON.stringify({ cutLayer, inputSize, preprocessing }, null, 2));
  if (backbone.teachable) {
    const metadata = teachableMetadataFor(classes.length ? classes : backbone.teachable.labels, inputSize, backbone.teachable, { preprocessing, ...note });
    await writeFileAtomic(path.join(opts.outDir, TEACHABLE_METADATA_FILE), JSON.stringify(metadata, null, 2));
  }
  await writeFileAtomic(path.join(opts.outDir, 'recalibration.json'), JSON.stringify({ layers }, null, 2));
  backbone.model.dispose();
  return { outDir: opts.outDir, setup, images, layers, skippedFiles: [...found.skipped, ...dataset.skipped] };
}
