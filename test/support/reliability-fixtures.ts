/**
 * Inputs for the reliability suites, built from scratch in temp folders: a tiny BN backbone saved
 * with a tfjs save handler, image folders written with sharp, and hand-made bad files. Nothing
 * here reads the shared models or data, so every case is reproducible on a bare checkout.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { PROJECT_ROOT } from '../../server/config.ts';
import { writeLayersModel } from '../../server/train/checkpoint.ts';

export { PROJECT_ROOT };
export const BNLAB_BIN = path.join(PROJECT_ROOT, 'bin', 'bnlab.js');

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TinyBackboneOptions {
  /** put BN layers in (default true) */
  batchNorm?: boolean;
  /** add a 4x4 valid conv + BN whose maps are 1x1 (a BN that sees one value per channel and example) */
  pointBn?: boolean;
  /** replace one conv0 kernel value by NaN: every forward pass is NaN */
  poisoned?: boolean;
  /** give conv0 a bias although BN follows it (what `bnlab inspect` reports as redundant) */
  biasBeforeBn?: boolean;
}

/**
 * A 16x16x3 conv/BN backbone with an old classifier, as a tfjs layers folder (model.json +
 * weights.bin) plus a backbone.json sidecar naming its cut layer, input size and preprocessing.
 */
export async function writeTinyBackbone(dir: string, opts: TinyBackboneOptions = {}): Promise<string> {
  const { batchNorm = true, pointBn = true, poisoned = false, biasBeforeBn = false } = opts;
  const input = tf.input({ shape: [16, 16, 3] });
  let x = input;
  [8, 12].forEach((filters, i) => {
    x = tf.layers.conv2d({ name: `conv${i}`, filters, kernelSize: 3, strides: 2, padding: 'same', useBias: !batchNorm || (biasBeforeBn && i === 0), kernelInitializer: tf.initializers.heNormal({ seed: i }) }).apply(x) as tf.SymbolicTensor;
    if (batchNorm) x = tf.layers.batchNormalization({ name: `bn${i}`, momentum: 0.9 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: `relu${i}` }).apply(x) as tf.SymbolicTensor;
  });
  let cut = 'relu1';
  if (pointBn) {
    x = tf.layers.conv2d({ name: 'conv2', filters: 10, kernelSize: 4, padding: 'valid', useBias: !batchNorm, kernelInitializer: tf.initializers.heNormal({ seed: 2 }) }).apply(x) as tf.SymbolicTensor;
    if (batchNorm) x = tf.layers.batchNormalization({ name: 'bn2', momentum: 0.9 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: 'relu2' }).apply(x) as tf.SymbolicTensor;
    cut = 'relu2';
  }
  const pooled = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'old_classifier', units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 9 }) }).apply(pooled) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  if (poisoned) {
    const conv = model.getLayer('conv0');
    const weights = conv.getWeights();
    const kernel = weights[0].arraySync() as number[][][][];
    kernel[0][0][0][0] = NaN;
    conv.setWeights([tf.tensor(kernel), ...weights.slice(1)]);
  }
  await writeLayersModel(dir, model);
  model.dispose();
  fs.writeFileSync(path.join(dir, 'backbone.json'), JSON.stringify({ cutLayer: cut, inputSize: 16, preprocessing: 'minus1to1' }));
  return dir;
}

/** A 20x20 RGB PNG/JPEG of a base colour with a deterministic texture (`variant` changes it). */
export function texturedPixels(colour: readonly number[], variant: number, width = 20, height = 20): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) pixels[p * 3 + c] = Math.max(0, Math.min(255, colour[c] + ((p * 37 + variant * 11 + c * 5) % 60) - 30));
  }
  return pixels;
}

export const CLASS_COLOURS = { cool: [40, 90, 210], warm: [200, 80, 40] } as const;

/** root/<class>/<i>.png for the two colour classes (or the classes given), 20x20 unless `size` says otherwise. */
export async function writeImageFolder(
  root: string,
  perClass: number,
  classes: Record<string, readonly number[]> = CLASS_COLOURS,
  size: { width: number; height: number } = { width: 20, height: 20 },
): Promise<string> {
  for (const [name, colour] of Object.entries(classes)) {
    fs.mkdirSync(path.join(root, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      await sharp(texturedPixels(colour, i, size.width, size.height), { raw: { ...size, channels: 3 } }).png().toFile(path.join(root, name, `${i}.png`));
    }
  }
  return root;
}

export async function jpegBytes(width = 64, height = 64): Promise<Buffer> {
  return sharp(texturedPixels([120, 130, 140], 1, width, height), { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/**
 * A valid PNG of `width` x `height` 1-bit grayscale zeros: 10000 x 10000 costs 12.5 MB of raw rows
 * that deflate to a few kB, so a decompression-bomb-sized image is cheap to make.
 */
export function bilevelPng(width: number, height: number): Buffer {
  const rowBytes = 1 + Math.ceil(width / 8);
  const idat = zlib.deflateSync(Buffer.alloc(rowBytes * height), { level: 9 });
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // grayscale
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Recipe JSON written to a file, for CLI runs. */
export function writeRecipe(file: string, recipe: Record<string, unknown>): string {
  fs.writeFileSync(file, JSON.stringify(recipe, null, 2));
  return file;
}

/** Environment for CLI child processes: models/data from temp folders, wasm backend. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, BNLAB_BACKEND: 'wasm', BNLAB_DEBUG: '', ...extra };
}

/** A Node/V8 stack trace line ("    at fn (file:line:col)"): users must never see one. */
export const STACK_TRACE = /^\s+at .+(:\d+:\d+\)?|\(native\)|<anonymous>)$/m;
