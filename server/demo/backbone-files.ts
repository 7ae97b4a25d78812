/**
 * The shipped demo backbone on disk: assets/demo-backbone/{model.json, weights.bin, backbone.json}.
 * model.json + weights.bin are the standard tfjs layers format, written and read by the engine's
 * model IO (train/checkpoint.ts writeLayersModel, backbones/model-files.ts diskHandler), so
 * `tf.loadLayersModel` reads them anywhere. Only the sidecar backbone.json is demo-specific: the
 * registry's sidecar fields (cut layer, input size, preprocessing), required here, plus how the
 * backbone was made.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { diskHandler } from '../backbones/model-files.ts';
import { BackboneSidecarSchema, DEMO_BACKBONE_DIR, SIDECAR_FILE } from '../backbones/registry.ts';
import { preprocessingAffine } from '../data/augment.ts';
import { writeFileAtomic } from '../runs/atomic-write.ts';
import { writeLayersModel } from '../train/checkpoint.ts';

export { DEMO_BACKBONE_DIR };

/** backbone.json: the registry's sidecar (every field present) and how the demo backbone was made. */
export const DemoBackboneMetaSchema = BackboneSidecarSchema.required().extend({
  name: z.literal('demo'),
  classifierLayer: z.string().min(1),
  pretrainingClasses: z.array(z.string()).min(2),
  pretrainingStyle: z.string(),
  trainedBy: z.string(),
  seed: z.number().int(),
  trainImages: z.number().int().positive(),
  sourceValAccuracy: z.number().min(0).max(1),
  /** Source val accuracy before the final population-statistics pass (EMA statistics). */
  sourceValAccuracyEmaBn: z.number().min(0).max(1),
  trainSeconds: z.number().nonnegative(),
  backend: z.string(),
  tfjsVersion: z.string(),
});
export type DemoBackboneMeta = z.infer<typeof DemoBackboneMetaSchema>;

/** Write `model` (model.json + weights.bin) and `meta` (backbone.json) into `dir`, each file atomically. */
export async function saveDemoBackbone(dir: string, model: tf.LayersModel, meta: DemoBackboneMeta): Promise<void> {
  const checked = DemoBackboneMetaSchema.parse(meta);
  await writeLayersModel(dir, model);
  await writeFileAtomic(path.join(dir, SIDECAR_FILE), `${JSON.stringify(checked, null, 2)}\n`);
}

/** Read and validate `<dir>/backbone.json`; errors name the file and the fields. */
export async function readDemoBackboneMeta(dir = DEMO_BACKBONE_DIR): Promise<DemoBackboneMeta> {
  const file = path.join(dir, SIDECAR_FILE);
  const parsed = DemoBackboneMetaSchema.safeParse(JSON.parse(await fs.readFile(file, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${file} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

export async function loadDemoBackbone(dir = DEMO_BACKBONE_DIR): Promise<{ model: tf.LayersModel; meta: DemoBackboneMeta }> {
  const [model, meta] = await Promise.all([tf.loadLayersModel(diskHandler(dir)), readDemoBackboneMeta(dir)]);
  return { model, meta };
}

/** Pixels in [0, 255] to the demo's 'minus1to1' range (x / 127.5 - 1), as a [count, size, size, 3] batch. */
export function preprocessMinus1To1(pixels: Uint8Array, count: number, size: number): tf.Tensor4D {
  const { scale, offset } = preprocessingAffine('minus1to1');
  return tf.tidy(() => tf.tensor4d(Float32Array.from(pixels), [count, size, size, 3]).mul(scale).add(offset) as tf.Tensor4D);
}
