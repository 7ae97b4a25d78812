/**
 * Test support: small tfjs models written to folders in the on-disk layout bnlab reads
 * (model.json + weight shards), so that error cases can be built byte by byte.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll } from 'vitest';

const created: string[] = [];
// Registered on the importing test file's root suite.
afterAll(() => {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary folder, removed after the test file finishes. */
export function tempDir(prefix = 'bnlab-backbones-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/**
 * Save `model` into `dir` as model.json + shards. `shards` splits the weights into that many
 * manifest groups (one file each, named groupN-shard1of1), like converter output.
 */
export async function writeModelFolder(model: tf.LayersModel, dir: string, shards = 2): Promise<string[]> {
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const saved = artifacts as unknown as tf.io.ModelArtifacts;
  const specs = saved.weightSpecs!;
  const data = new Uint8Array(saved.weightData as ArrayBuffer);
  const perGroup = Math.ceil(specs.length / shards);
  const manifest: tf.io.WeightsManifestConfig = [];
  const files: string[] = [];
  let offset = 0;
  for (let g = 0; g * perGroup < specs.length; g++) {
    const weights = specs.slice(g * perGroup, (g + 1) * perGroup);
    const bytes = weights.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
    const file = `group${g + 1}-shard1of1`;
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, file), data.subarray(offset, offset + bytes));
    offset += bytes;
    manifest.push({ paths: [file], weights });
    files.push(file);
  }
  const json = { modelTopology: saved.modelTopology, format: 'layers-model', generatedBy: 'bnlab test', weightsManifest: manifest };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  return ['model.json', ...files];
}

/** input 16x16x3 -> conv(bias) -> BN -> relu -> conv(no bias) -> BN -> relu -> GAP -> dense(2) */
export function tinyBnModel(name = 'tiny_bn'): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3], name: `${name}_input` });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: true, name: `${name}_conv1` }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: `${name}_bn1` }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu', name: `${name}_relu1` }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: `${name}_conv2` }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: `${name}_bn2` }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu', name: `${name}_relu2` }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: `${name}_pool` }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, activation: 'softmax', name: `${name}_logits` }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name });
}

/** input 8 -> dense -> dense(2): no BatchNormalization anywhere */
export function tinyDenseModel(name = 'tiny_dense'): tf.LayersModel {
  const input = tf.input({ shape: [8], name: `${name}_input` });
  const h = tf.layers.dense({ units: 4, activation: 'relu', name: `${name}_hidden` }).apply(input) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 2, activation: 'softmax', name: `${name}_logits` }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name });
}
