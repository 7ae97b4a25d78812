/**
 * Test and measurement fixtures for the stats module: load a shared backbone and decode a few
 * images without the data pipeline (tests here check statistics, not decoding). Not used by the
 * product code.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { loadBackbone } from '../../server/backbones/load.ts';
import { loadConfig } from '../../server/config.ts';

/** The full pretrained model in `dir` (model.json + shards), through the backbone loader. */
export async function loadLayersModelFromDir(dir: string): Promise<tf.LayersModel> {
  return (await loadBackbone(dir, loadConfig(), { requirePreprocessing: false })).model; // only the model: no pixels are scaled here
}

/** Image files of an image folder (recursively), sorted, at most `limit`, spread over the folder. */
export async function listImages(root: string, limit: number): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const entry of (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (/\.(jpe?g|png|webp)$/i.test(entry.name)) out.push(full);
    }
  };
  await walk(root);
  if (out.length <= limit) return out;
  const step = out.length / limit;
  return Array.from({ length: limit }, (_, i) => out[Math.floor(i * step)]);
}

/** Decode to RGB, resize (cover) + centre crop to size×size, scale to [-1, 1]: [N, size, size, 3]. */
export async function decodeImages(files: string[], size: number): Promise<tf.Tensor4D> {
  const pixels = new Float32Array(files.length * size * size * 3);
  for (const [i, file] of files.entries()) {
    const raw = await sharp(file)
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .resize(size, size, { fit: 'cover', position: 'centre' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (raw.info.channels !== 3) throw new Error(`${file}: decoded to ${raw.info.channels} channels`);
    const offset = i * size * size * 3;
    for (let j = 0; j < raw.data.length; j++) pixels[offset + j] = raw.data[j] / 127.5 - 1;
  }
  return tf.tensor4d(pixels, [files.length, size, size, 3]);
}

export { sliceBatches } from '../../server/stats/population.ts';
