/**
 * Checkpoints: `<dir>/model.json` + `weights-<step>.bin` in tfjs layers format (loadable with plain
 * `tf.loadLayersModel`), the optimizer state in `optimizer-<step>.bin`, and the run metadata
 * (recipe, classes, preprocessing, epoch, step) inside model.json's `userDefinedMetadata.bnlab` and
 * again in `checkpoint.json`.
 *
 * Crash safety: binaries get names unique to their step and are fully written before model.json is
 * atomically replaced, so model.json is the single commit point: whatever instant a crash happens
 * at, model.json refers to complete files. Files of older steps are deleted only after the commit.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { CheckpointMeta } from '../schema/checkpoint.ts';
import { diskHandler } from '../backbones/model-files.ts';
import { writeFileAtomic } from '../runs/atomic-write.ts';
import { MODEL_JSON, WEIGHTS_BIN } from '../model/format.ts';
import { RUN_FILES } from '../runs/files.ts';

interface ModelJson {
  modelTopology: object;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  userDefinedMetadata?: { bnlab?: CheckpointMeta & { optimizer?: OptimizerFile } };
}

/** tfjs' optimizer weight entry (not re-exported by @tensorflow/tfjs) */
type NamedTensor = { name: string; tensor: tf.Tensor };

interface OptimizerFile {
  path: string;
  specs: tf.io.WeightsManifestEntry[];
  /** running scalars that getWeights() leaves out (see optimizerScalars) */
  scalars?: Record<string, number>;
}

/**
 * Adam keeps beta1^t and beta2^t as running float32 products, but its setWeights() rebuilds them as
 * pow(beta, t), which differs in the last bits; saving the products makes a resume bit-exact.
 */
const RUNNING_SCALARS = ['accBeta1', 'accBeta2'] as const;

async function optimizerScalars(optimizer: tf.Optimizer): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const key of RUNNING_SCALARS) {
    const variable = (optimizer as unknown as Record<string, tf.Variable | undefined>)[key];
    if (variable) out[key] = (await variable.data())[0];
  }
  return out;
}

export function restoreOptimizerScalars(optimizer: tf.Optimizer, scalars: Record<string, number> | undefined) {
  for (const [key, value] of Object.entries(scalars ?? {})) {
    const variable = (optimizer as unknown as Record<string, tf.Variable | undefined>)[key];
    if (variable) tf.tidy(() => variable.assign(tf.scalar(value)));
  }
}

export async function saveCheckpoint(
  dir: string,
  model: tf.LayersModel,
  optimizer: tf.Optimizer | null,
  meta: CheckpointMeta,
): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  let optimizerFile: OptimizerFile | undefined;
  if (optimizer) {
    const state = await optimizer.getWeights();
    const encoded = await tf.io.encodeWeights(state);
    optimizerFile = { path: RUN_FILES.optimizer(meta.step), specs: encoded.specs, scalars: await optimizerScalars(optimizer) };
    await writeFileAtomic(path.join(dir, optimizerFile.path), new Uint8Array(tf.io.CompositeArrayBuffer.join(encoded.data)));
  }
  const weightsFile = await writeLayersModel(dir, model, RUN_FILES.weights(meta.step), { bnlab: { ...meta, optimizer: optimizerFile } });
  await writeFileAtomic(path.join(dir, RUN_FILES.meta), JSON.stringify(meta, null, 2));
  await removeStaleBinaries(dir, new Set([weightsFile, optimizerFile?.path].filter(Boolean) as string[]));
}

/**
 * Write a model as `<dir>/model.json` + `<dir>/<weightsFile>`: the weights first, then model.json
 * atomically, so model.json never refers to a missing or partial file. Returns the weights file name.
 */
export async function writeLayersModel(dir: string, model: tf.LayersModel, weightsFile = WEIGHTS_BIN, userDefinedMetadata?: object): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  let modelJson: ModelJson | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData!);
      await writeFileAtomic(path.join(dir, weightsFile), new Uint8Array(weightData));
      modelJson = {
        modelTopology: artifacts.modelTopology as object,
        format: 'layers-model',
        generatedBy: `bnlab (TensorFlow.js ${tf.version.tfjs})`,
        convertedBy: null,
        weightsManifest: [{ paths: [weightsFile], weights: artifacts.weightSpecs! }],
      };
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  const json = modelJson as unknown as ModelJson;
  if (userDefinedMetadata) json.userDefinedMetadata = userDefinedMetadata as ModelJson['userDefinedMetadata'];
  await writeFileAtomic(path.join(dir, MODEL_JSON), JSON.stringify(json));
  return weightsFile;
}

async function removeStaleBinaries(dir: string, keep: Set<string>) {
  for (const name of await fs.readdir(dir)) {
    const stale = RUN_FILES.stale.test(name);
    if (stale && !keep.has(name)) await fs.rm(path.join(dir, name), { force: true });
  }
}

export interface LoadedCheckpoint {
  model: tf.LayersModel;
  meta: CheckpointMeta;
  optimizerState: NamedTensor[] | null;
  optimizerScalars?: Record<string, number>;
}

export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const modelJsonPath = path.join(dir, RUN_FILES.model);
  let json: ModelJson;
  try {
    json = JSON.parse(await fs.readFile(modelJsonPath, 'utf8')) as ModelJson;
  } catch (error) {
    throw new Error(`checkpoint ${modelJsonPath} is unreadable: ${(error as Error).message}`);
  }
  const meta = json.userDefinedMetadata?.bnlab;
  if (!meta) throw new Error(`${modelJsonPath} is not a bnlab checkpoint (no userDefinedMetadata.bnlab)`);
  const model = await tf.loadLayersModel(diskHandler(modelJsonPath));
  let optimizerState: NamedTensor[] | null = null;
  if (meta.optimizer) {
    const bytes = await fs.readFile(path.join(dir, meta.optimizer.path));
    const decoded = tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, meta.optimizer.specs);
    optimizerState = meta.optimizer.specs.map((spec) => ({ name: spec.name, tensor: decoded[spec.name] }));
  }
  return { model, meta, optimizerState, optimizerScalars: meta.optimizer?.scalars };
}
