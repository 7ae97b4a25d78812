/**
 * Everything a run needs before its first step, built the same way by train, compare, inspect and
 * recalibrate: the backbone with its new head, the data split and the datasets.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BnlabConfig } from '../config.ts';
import { PROJECT_ROOT } from '../config.ts';
import { buildClassifier } from '../backbones/head.ts';
import { loadBackbone, type LoadedBackbone } from '../backbones/load.ts';
import { findBiasBeforeBn } from '../stats/lint.ts';
import { backboneSetup } from '../backbones/setup.ts';
import { type BackboneSetup } from '../schema/backbone-setup.ts';
import { DecodedImageCache, ImageDataset } from '../data/dataset.ts';
import { diskImageCache } from '../data/disk-cache.ts';
import { scanImageFolder, type ImageFolderSplit } from '../data/scan.ts';
import type { Preprocessing } from '../schema/preprocessing.ts';
import type { Recipe } from '../schema/recipe.ts';

export interface Experiment {
  backbone: LoadedBackbone;
  model: tf.LayersModel;
  headLayerNames: string[];
  split: ImageFolderSplit;
  inputSize: number;
  preprocessing: Preprocessing;
  /** training images with the recipe's augmentation */
  train: ImageDataset;
  /** training images with eval transforms (for recalibration and inspection) */
  trainEval: ImageDataset;
  val: ImageDataset;
  warnings: string[];
  setup: BackboneSetup;
}

/** Resolve a data path: absolute, relative to the working directory, or relative to the project. */
export function resolveDataPath(data: string): string {
  if (path.isAbsolute(data)) return data;
  const fromCwd = path.resolve(data);
  return data.startsWith('data/') && !fromCwd.startsWith(PROJECT_ROOT) ? path.join(PROJECT_ROOT, data) : fromCwd;
}

/** `onSetup` hears what will be used (backbone, input size, preprocessing, cut) before any image is read. */
export async function prepareExperiment(recipe: Recipe, config: BnlabConfig, cache = new DecodedImageCache(), onSetup?: (setup: BackboneSetup) => void): Promise<Experiment> {
  const backbone = await loadBackbone(recipe.backbone, config, { preprocessing: recipe.preprocessing, cutLayer: recipe.cutLayer });
  onSetup?.(backboneSetup(backbone, recipe.imageSize ?? backbone.entry.inputSize));
  // the split follows the data seed, so that run seeds (init, batch order) vary on one fixed split
  const split = await scanImageFolder(resolveDataPath(recipe.data), { valFraction: recipe.valFraction, seed: recipe.dataSeed ?? recipe.seed, roots: config.dataRoots });
  const inputSize = recipe.imageSize ?? backbone.entry.inputSize;
  if (inputSize !== backbone.entry.inputSize) {
    throw new Error(`imageSize ${inputSize} does not match backbone '${backbone.name}' input size ${backbone.entry.inputSize}; leave imageSize out to use the backbone's`);
  }
  const preprocessing = backbone.entry.preprocessing;
  const { model, headLayerNames } = buildClassifier(backbone, split.classes.length, recipe.head, recipe.seed);
  const warnings = [...backbone.warnings, ...split.warnings];
  for (const finding of findBiasBeforeBn(model)) {
    warnings.push(`layer '${finding.layer}' has a bias feeding straight into BatchNorm '${finding.bn}': BN subtracts the mean, so the bias is redundant (it only costs parameters)`);
  }
  const common = { imageSize: inputSize, preprocessing, cache, diskCache: diskImageCache(config.cacheDir), resize: recipe.resize };
  return {
    backbone,
    model,
    headLayerNames,
    split,
    inputSize,
    preprocessing,
    train: new ImageDataset({ ...common, items: split.train, augment: recipe.augment }),
    trainEval: new ImageDataset({ ...common, items: split.train, augment: null }),
    val: new ImageDataset({ ...common, items: split.val, augment: null }),
    warnings,
    setup: backboneSetup(backbone, inputSize),
  };
}

/** Batches of a dataset as image tensors (the caller disposes each one). */
export async function* imageTensors(dataset: ImageDataset, batchSize: number): AsyncGenerator<tf.Tensor4D> {
  for await (const batch of dataset.batches({ batchSize, shuffle: false, seed: 0, epoch: 0 })) {
    yield toImageTensor(batch.images, batch.count, dataset.imageSize);
  }
}

export function toImageTensor(images: Float32Array, count: number, size: number): tf.Tensor4D {
  return tf.tensor4d(images.subarray(0, count * size * size * 3), [count, size, size, 3]);
}
