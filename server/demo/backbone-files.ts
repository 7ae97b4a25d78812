/**
 * The shipped demo backbone on disk: server/demo/backbone/{model.json, weights.bin, backbone.json}.
 * Plain tfjs IO handlers over node:fs (tfjs-node's file:// is not available here), so the files are
 * the standard tfjs layers format that `tf.loadLayersModel` reads anywhere.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { Preprocessing } from '../schema.ts';

export const DEMO_BACKBONE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'backbone');

/** backbone.json: what a registry needs to use the demo backbone, and how it was made. */
export interface DemoBackboneMeta {
  name: 'demo';
  cutLayer: string;
  inputSize: number;
  preprocessing: Preprocessing;
  classifierLayer: string;
  pretrainingClasses: string[];
  pretrainingStyle: string;
  trainedBy: string;
  seed: number;
  trainImages: number;
  sourceValAccuracy: number;
  /** Source val accuracy before the final population-statistics pass (EMA statistics). */
  sourceValAccuracyEmaBn: number;
  trainSeconds: number;
  backend: string;
  tfjsVersion: string;
}

/** Save a layers model as model.json + weights.bin (one shard) into `dir`, atomically per file. */
export async function saveLayersModelToDir(model: tf.LayersModel, dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0));
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: null,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      await writeAtomic(path.join(dir, 'weights.bin'), new Uint8Array(weightData));
      await writeAtomic(path.join(dir, 'model.json'), JSON.stringify(modelJson));
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          weightDataBytes: weightData.byteLength,
        },
      };
    }),
  );
}

async function writeAtomic(file: string, contents: string | Uint8Array): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temp, contents);
  await fs.rename(temp, file);
}

/** An IO handler that reads a tfjs layers model.json and its weight shards from a folder. */
export function layersModelFromDir(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const modelJson = JSON.parse(await fs.readFile(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      const weightSpecs: tf.io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of modelJson.weightsManifest) {
        weightSpecs.push(...group.weights);
        for (const shard of group.paths) {
          const bytes = await fs.readFile(path.join(dir, shard));
          buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
        }
      }
      return {
        modelTopology: modelJson.modelTopology,
        weightSpecs,
        weightData: tf.io.CompositeArrayBuffer.join(buffers),
        format: modelJson.format,
        generatedBy: modelJson.generatedBy,
        convertedBy: modelJson.convertedBy,
      };
    },
  };
}

export async function readDemoBackboneMeta(dir = DEMO_BACKBONE_DIR): Promise<DemoBackboneMeta> {
  return JSON.parse(await fs.readFile(path.join(dir, 'backbone.json'), 'utf8')) as DemoBackboneMeta;
}

export async function loadDemoBackbone(dir = DEMO_BACKBONE_DIR): Promise<{ model: tf.LayersModel; meta: DemoBackboneMeta }> {
  const [model, meta] = await Promise.all([tf.loadLayersModel(layersModelFromDir(dir)), readDemoBackboneMeta(dir)]);
  return { model, meta };
}

/** Pixels in [0, 255] to the demo's 'minus1to1' range: x / 127.5 - 1. */
export function preprocessMinus1To1(pixels: Uint8Array, count: number, size: number): tf.Tensor4D {
  return tf.tidy(() => tf.tensor4d(Float32Array.from(pixels), [count, size, size, 3]).div(127.5).sub(1) as tf.Tensor4D);
}
