/**
 * Reading a tfjs layers model from a folder: model.json plus its weight shards, concatenated in
 * weightsManifest order (what tfjs's http loader does; tfjs-node's file:// is not available here).
 * Every way such a folder can be broken gets its own error that names the file: missing or
 * malformed model.json, a graph model, a missing shard, a shard of the wrong size, a sha256 mismatch.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { BackboneError } from './errors.ts';

import { MODEL_JSON } from '../model/format.ts';

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype?: string };
}
export interface WeightsGroup {
  paths: string[];
  weights: WeightSpec[];
}
/** The parts of model.json bnlab relies on, checked. */
export interface LayersModelJson {
  modelTopology: Record<string, unknown>;
  weightsManifest: WeightsGroup[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  trainingConfig?: unknown;
}

/**
 * Parse and check a model.json text. A graph model (format 'graph-model', a topology with a 'node'
 * list, or no Keras topology at all) is refused: bnlab edits layers, which graph models lack.
 */
export function parseModelJson(text: string, origin: string): LayersModelJson {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BackboneError('bad-model-json', `${origin} is not valid JSON: ${(err as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new BackboneError('bad-model-json', `${origin} is not a tfjs model.json (expected a JSON object)`);
  }
  const obj = json as Record<string, unknown>;
  const topology = obj.modelTopology as Record<string, unknown> | undefined;
  const graphHint = 'is a graph model; bnlab needs a layers model (convert a Keras model with tensorflowjs_converter --output_format tfjs_layers_model)';
  if (obj.format === 'graph-model' || (topology && Array.isArray(topology.node))) {
    throw new BackboneError('graph-model', `${origin} ${graphHint}`);
  }
  if (!topology || typeof topology !== 'object') {
    throw new BackboneError('bad-model-json', `${origin} has no modelTopology`);
  }
  // Keras saves {model_config: {class_name, config}}; tfjs-layers saves {class_name, config} directly.
  const modelConfig = (topology.model_config ?? topology) as Record<string, unknown>;
  if (typeof modelConfig !== 'object' || typeof modelConfig.class_name !== 'string') {
    throw new BackboneError('graph-model', `${origin} has no Keras layers topology (modelTopology.model_config); it ${graphHint}`);
  }
  if (!Array.isArray(obj.weightsManifest)) {
    throw new BackboneError('bad-model-json', `${origin} has no weightsManifest list`);
  }
  obj.weightsManifest.forEach((group: unknown, i: number) => {
    const g = group as Partial<WeightsGroup> | null;
    if (!g || !Array.isArray(g.paths) || !Array.isArray(g.weights) || !g.paths.every((p) => typeof p === 'string')) {
      throw new BackboneError('bad-model-json', `${origin}: weightsManifest[${i}] needs 'paths' and 'weights' lists`);
    }
  });
  return obj as unknown as LayersModelJson;
}

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

/** Bytes one weightsManifest group must hold (quantized weights count at their stored width); null if unknowable (strings). */
export function groupByteLength(group: WeightsGroup): number | null {
  let total = 0;
  for (const spec of group.weights) {
    const stored = spec.quantization?.dtype ?? spec.dtype;
    const width = BYTES_PER_ELEMENT[stored];
    if (width === undefined) return null;
    total += spec.shape.reduce((a, b) => a * b, 1) * width;
  }
  return total;
}

/**
 * A manifest path must stay inside the model folder: relative, no '..' segment, no drive or scheme.
 * (A hostile model.json must not make bnlab read or, when downloading, write elsewhere.)
 */
export function assertSafeRelativePath(file: string, origin: string): void {
  const segments = file.split(/[\\/]/);
  if (file.length === 0 || path.isAbsolute(file) || /^[a-z][a-z0-9+.-]*:/i.test(file) || segments.some((s) => s === '..' || s === '')) {
    throw new BackboneError('unsafe-path', `${origin} lists weight file '${file}', which is not a plain relative path inside the model folder`);
  }
}

/** Every weight file model.json lists, in manifest order. */
export function weightFiles(json: LayersModelJson, origin: string): string[] {
  const files = json.weightsManifest.flatMap((g) => g.paths);
  files.forEach((f) => assertSafeRelativePath(f, origin));
  return files;
}

export function sha256Hex(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

/**
 * Check files against expected sha256 values. Files without an expected value fail only when
 * `requireAll` (a download from a registry entry with hashes must be fully covered).
 */
export function checkSha256(file: string, bytes: Uint8Array, expected: Record<string, string>, origin: string, requireAll: boolean): void {
  const want = expected[file];
  if (want === undefined) {
    if (requireAll) throw new BackboneError('sha-mismatch', `sha256 of ${file} from ${origin} is not recorded in the registry; refusing an unverified file`);
    return;
  }
  const got = sha256Hex(bytes);
  if (got !== want.toLowerCase()) {
    throw new BackboneError('sha-mismatch', `sha256 mismatch for ${file} from ${origin}: expected ${want}, got ${got}`);
  }
}

/** Check each weightsManifest group's shards hold exactly the bytes its weight specs need. */
export function checkShardSizes(json: LayersModelJson, sizes: Map<string, number>, origin: string): void {
  json.weightsManifest.forEach((group, i) => {
    const need = groupByteLength(group);
    if (need === null) return;
    const have = group.paths.reduce((sum, p) => sum + (sizes.get(p) ?? 0), 0);
    if (have === need) return;
    const which = group.paths.length === 1 ? `shard ${group.paths[0]}` : `shards ${group.paths.join(', ')}`;
    const how = have < need ? 'truncated' : 'too long';
    throw new BackboneError(
      'truncated-shard',
      `${which} of ${origin} ${group.paths.length === 1 ? 'is' : 'are'} ${how}: ${have} bytes, but weightsManifest group ${i + 1} (${group.weights.length} weights) needs ${need} bytes`,
    );
  });
}

export interface ModelFolderContents {
  json: LayersModelJson;
  /** model.json bytes and each weight file's bytes, keyed by manifest path */
  files: Map<string, Uint8Array>;
}

/**
 * Read model.json and all its shards, checking everything except hashes. `location` is the folder
 * (model.json inside) or the model.json file itself; shards are read from the same folder.
 * The JSON's bytes are keyed by its own file name in `files`.
 */
export async function readModelFolder(location: string): Promise<ModelFolderContents> {
  const isJsonFile = location.toLowerCase().endsWith('.json');
  const jsonPath = isJsonFile ? location : path.join(location, MODEL_JSON);
  const dir = path.dirname(jsonPath);
  let jsonBytes: Uint8Array;
  try {
    jsonBytes = await fs.readFile(jsonPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${(err as Error).message})`;
    throw new BackboneError('missing-model-json', `no model.json: ${jsonPath} ${why}`);
  }
  const json = parseModelJson(Buffer.from(jsonBytes).toString('utf8'), jsonPath);
  const files = new Map<string, Uint8Array>([[path.basename(jsonPath), jsonBytes]]);
  for (const file of weightFiles(json, jsonPath)) {
    const shardPath = path.join(dir, file);
    try {
      files.set(file, await fs.readFile(shardPath));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'is missing' : `cannot be read (${(err as Error).message})`;
      throw new BackboneError('missing-shard', `weight shard ${file} listed in ${jsonPath} ${why} (expected at ${shardPath})`);
    }
  }
  checkShardSizes(json, new Map([...files].map(([k, v]) => [k, v.byteLength])), jsonPath);
  return { json, files };
}

/** tfjs model artifacts from checked folder contents: weight specs and shards concatenated in manifest order. */
export function toModelArtifacts({ json, files }: ModelFolderContents): tf.io.ModelArtifacts {
  const order = json.weightsManifest.flatMap((g) => g.paths);
  const total = order.reduce((sum, p) => sum + files.get(p)!.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const p of order) {
    weightData.set(files.get(p)!, offset);
    offset += files.get(p)!.byteLength;
  }
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[],
    weightData: weightData.buffer,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? undefined,
    trainingConfig: json.trainingConfig as tf.io.ModelArtifacts['trainingConfig'],
  };
}

/** An IO handler for tf.loadLayersModel that serves already-read folder contents. */
export function memoryHandler(contents: ModelFolderContents): tf.io.IOHandler {
  return { load: async () => toModelArtifacts(contents) };
}

/** An IO handler whose load() reads model.json (a folder or the file) and its shards, with the checks above. */
export function diskHandler(location: string): tf.io.IOHandler {
  return { load: async () => toModelArtifacts(await readModelFolder(location)) };
}
