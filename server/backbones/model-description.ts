/**
 * What `predict` and `export` need to use a model folder as a classifier: class names in output
 * order, input size and preprocessing. Read from, first that has them: model.json
 * `userDefinedMetadata.bnlab` (training checkpoints, `recalibrate` output, bnlab exports),
 * Teachable Machine metadata.json, or a bnlab export's labels.json. A folder with none is refused
 * with a message that says which files were looked at.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PreprocessingSchema, type Preprocessing } from '../schema/preprocessing.ts';
import { diskHandler } from './model-files.ts';
import { SIDECAR_FILE, readSidecar } from './registry.ts';
import { readTeachableMetadata, TEACHABLE_METADATA_FILE, type TeachableMetadata } from './teachable-machine.ts';

export interface ModelDescription {
  classes: string[];
  inputSize: number;
  preprocessing: Preprocessing;
  /** the layer a new head would be attached at, when known */
  cutLayer?: string;
  /** where the description was read from (a file name) */
  from: string;
  teachable: TeachableMetadata | null;
}

/** Written by recalibrate and export into model.json userDefinedMetadata.bnlab (checkpoints write CheckpointMeta, a superset). */
export interface ModelDescriptionMeta {
  format: 'bnlab-recalibrated@1' | 'bnlab-export@1';
  classes: string[];
  inputSize: number;
  preprocessing: Preprocessing;
  cutLayer?: string;
  [key: string]: unknown;
}

export const LABELS_FILE = 'labels.json';

function usable(value: { classes?: unknown; inputSize?: unknown; preprocessing?: unknown } | undefined | null): { classes: string[]; inputSize: number; preprocessing: Preprocessing } | null {
  if (!value) return null;
  const preprocessing = PreprocessingSchema.safeParse(value.preprocessing);
  if (!Array.isArray(value.classes) || value.classes.length === 0 || !Number.isInteger(value.inputSize) || (value.inputSize as number) <= 0 || !preprocessing.success) return null;
  return { classes: value.classes.map(String), inputSize: value.inputSize as number, preprocessing: preprocessing.data };
}

/** Describe the classifier in `dir` from its parsed model.json and the files beside it. */
export function describeModelFolder(dir: string, modelJson: { userDefinedMetadata?: Record<string, unknown> }): ModelDescription {
  const teachable = readTeachableMetadata(dir);
  const bnlab = modelJson.userDefinedMetadata?.bnlab as { classes?: unknown; inputSize?: unknown; preprocessing?: unknown; cutLayer?: unknown } | undefined;
  const fromMeta = usable(bnlab);
  const sidecar = readSidecar(dir);
  const cutLayer = typeof bnlab?.cutLayer === 'string' ? bnlab.cutLayer : sidecar?.cutLayer;
  if (fromMeta) return { ...fromMeta, cutLayer, from: 'model.json', teachable };
  if (teachable) {
    const note = teachable.userMetadata?.bnlab as { preprocessing?: unknown } | undefined;
    const preprocessing = PreprocessingSchema.safeParse(note?.preprocessing ?? sidecar?.preprocessing ?? 'minus1to1');
    return {
      classes: teachable.labels,
      inputSize: teachable.imageSize ?? sidecar?.inputSize ?? 224,
      preprocessing: preprocessing.success ? preprocessing.data : 'minus1to1',
      cutLayer,
      from: TEACHABLE_METADATA_FILE,
      teachable,
    };
  }
  const labelsFile = path.join(dir, LABELS_FILE);
  if (fs.existsSync(labelsFile)) {
    let labels: { labels?: unknown; inputSize?: unknown; preprocessing?: unknown } | null = null;
    try {
      labels = JSON.parse(fs.readFileSync(labelsFile, 'utf8'));
    } catch (error) {
      throw new Error(`${labelsFile} is not valid JSON: ${(error as Error).message}`);
    }
    const fromLabels = usable(labels && { classes: labels.labels, inputSize: labels.inputSize, preprocessing: labels.preprocessing });
    if (fromLabels) return { ...fromLabels, cutLayer, from: LABELS_FILE, teachable };
  }
  const partial = bnlab ? ` (its userDefinedMetadata.bnlab lacks ${['classes', 'inputSize', 'preprocessing'].filter((k) => !(k in bnlab) || bnlab[k as keyof typeof bnlab] == null).join(', ') || 'valid values'})` : '';
  throw new Error(
    `${path.join(dir, 'model.json')} does not describe a classifier${partial}: bnlab needs its class names, input size and preprocessing, ` +
      `from a bnlab checkpoint, a 'bnlab recalibrate' or 'bnlab export' output, a Teachable Machine ${TEACHABLE_METADATA_FILE} or a ${LABELS_FILE} ` +
      `(${SIDECAR_FILE} alone names no classes). To use a plain model, train a head on it: bnlab train --backbone ${dir} --data <folder>`,
  );
}

/** Load a model folder's classifier with its description (predict, export). */
export async function loadDescribedModel(location: string): Promise<{ model: tf.LayersModel; description: ModelDescription; dir: string }> {
  const isFile = location.toLowerCase().endsWith('.json');
  const dir = isFile ? path.dirname(location) : location;
  const jsonPath = isFile ? location : path.join(dir, 'model.json');
  let json: { userDefinedMetadata?: Record<string, unknown> };
  try {
    json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  } catch (error) {
    throw new Error(`${jsonPath} is unreadable: ${(error as Error).message}`);
  }
  const description = describeModelFolder(dir, json);
  const model = await tf.loadLayersModel(diskHandler(jsonPath));
  const width = model.outputs[0]?.shape.at(-1);
  if (model.outputs[0]?.shape.length !== 2 || width !== description.classes.length) {
    model.dispose();
    throw new Error(
      `${jsonPath}: the model's output has shape [${model.outputs[0]?.shape.join(', ')}] but ${description.from} names ${description.classes.length} classes; ` +
        'a classifier needs one output per class',
    );
  }
  return { model, description, dir };
}
