/**
 * Resolving a backbone spec to a loaded tfjs layers model.
 *
 * A spec is a registry name, a path to a model.json or its folder, or an http(s) URL of a
 * model.json. A name resolves, in order, to: <modelsDir>/<localDir>, <cacheDir>/<name>, the
 * folder shipped in the repository (demo), then a download of the entry's URL into
 * <cacheDir>/<name> (sha256-verified, written atomically). A plain name that is not registered
 * but names a folder in the models dir or cache loads from there.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BnlabConfig } from '../config.ts';
import type { Preprocessing } from '../schema/preprocessing.ts';
import { PREPROCESSING_HELP } from '../schema/preprocessing.ts';
import { defaultCutLayer, findLayer, layersWithContainers } from './cut-layer.ts';
import { downloadModel } from './download.ts';
import { BackboneError } from './errors.ts';
import { batchNormLayers, isContainer } from '../model/layers.ts';
import { readTeachableMetadata, type TeachableMetadata } from './teachable-machine.ts';
import { MODEL_JSON } from '../model/format.ts';
import type { CutLayerSource, PreprocessingSource } from '../schema/backbone-setup.ts';
import { checkSha256, memoryHandler, readModelFolder } from './model-files.ts';
import {
  type BackboneEntry,
  type BackboneLocation,
  SIDECAR_FILE,
  SOURCE_FILE,
  backboneRegistry,
  findBackboneEntry,
  isPlainName,
  localCandidates,
  readSidecar,
  readSourceUrl,
} from './registry.ts';


export interface LoadedBackbone {
  name: string;
  /** what the caller passed to loadBackbone (registry name, path or URL) */
  spec: string;
  stated: { preprocessing: PreprocessingSource; cutLayer: CutLayerSource };
  /** the folder's Teachable Machine metadata.json, when it has one */
  teachable: TeachableMetadata | null;
  /** the full pretrained model as loaded (classifier included, if it had one) */
  model: tf.LayersModel;
  /**
   * The registry entry, completed: for path/URL specs the input size comes from backbone.json,
   * Teachable Machine metadata.json or the model's input shape; preprocessing must be stated (see
   * completeEntry) and the cut layer follows the default rule (cut-layer.ts) unless stated.
   */
  entry: BackboneEntry;
  warnings: string[];
  /** where the files were read from */
  source: { location: BackboneLocation | 'path' | 'url-cache'; dir: string };
}

export interface LoadOptions {
  /** registry to resolve names against (tests and tools; default: the shipped registry) */
  registry?: readonly BackboneEntry[];
  fetchImpl?: typeof fetch;
  /** per-file download timeout */
  timeoutMs?: number;
  /** pixel scaling stated by the user (--preprocessing, recipe field); wins over every other source */
  preprocessing?: Preprocessing | null;
  /** cut layer chosen by the user (--cut, recipe cutLayer); wins over registry, sidecar and rule */
  cutLayer?: string | null;
  /**
   * Refuse a model whose preprocessing nobody stated (default true). Only commands that never feed
   * it pixels (`bnlab layers`) pass false.
   */
  requirePreprocessing?: boolean;
}

function isUrl(spec: string): boolean {
  return /^https?:\/\//i.test(spec);
}

function looksLikePath(spec: string): boolean {
  return spec.includes('/') || spec.includes('\\') || spec.startsWith('.') || spec.startsWith('~') || spec.toLowerCase().endsWith('.json');
}

function expandHome(spec: string): string {
  return spec === '~' || spec.startsWith('~/') ? path.join(process.env.HOME ?? '', spec.slice(1)) : spec;
}

function hasModel(location: string): boolean {
  const file = location.toLowerCase().endsWith('.json') ? location : path.join(location, MODEL_JSON);
  return fs.existsSync(file) && fs.statSync(file).isFile();
}

/** Read a model folder, check hashes when known, and build the tfjs model. */
async function readAndBuild(location: string, sha256: Record<string, string> | null): Promise<tf.LayersModel> {
  const contents = await readModelFolder(location);
  const dir = location.toLowerCase().endsWith('.json') ? path.dirname(location) : location;
  if (sha256) for (const [file, bytes] of contents.files) checkSha256(file, bytes, sha256, dir, false);
  try {
    return await tf.loadLayersModel(memoryHandler(contents), { strict: true });
  } catch (err) {
    throw new BackboneError('load-failed', `could not build a tfjs layers model from ${location}: ${(err as Error).message}`);
  }
}

/** Names of the model's layers with a 4-D output, last first (suggestions when a cut layer is wrong). */
function cutCandidates(model: tf.LayersModel): string[] {
  return layersWithContainers(model)
    .map((p) => p.layer)
    .filter((l) => !isContainer(l) && !Array.isArray(l.outputShape[0]) && l.outputShape.length === 4)
    .map((l) => l.name)
    .reverse()
    .slice(0, 5);
}

function inputSizeOf(model: tf.LayersModel): number | null {
  const shape = model.inputs[0]?.shape;
  return shape && shape.length === 4 && typeof shape[1] === 'number' ? shape[1] : null;
}

/** The refusal for a model whose pixel scaling nobody stated: both ways to state it, and how to see its layers. */
export function preprocessingUnstatedError(name: string, spec: string, dir: string): BackboneError {
  const quoted = /^[\w./~-]+$/.test(spec) ? spec : `'${spec.replace(/'/g, `'\\''`)}'`;
  return new BackboneError(
    'preprocessing-unstated',
    `backbone ${name} does not say how its pixels are scaled, and bnlab will not guess (statistics of wrongly scaled input mislead inspect, train and recalibrate). ` +
      `State it either with --preprocessing <mode> (recipe field "preprocessing"; modes: ${PREPROCESSING_HELP}), ` +
      `or in ${path.join(dir, SIDECAR_FILE)}, e.g. {"preprocessing": "[0,1]"}. ` +
      `To list the model's layers (and choose --cut): bnlab layers --backbone ${quoted}`,
  );
}

interface Completed {
  entry: BackboneEntry;
  stated: LoadedBackbone['stated'];
  teachable: TeachableMetadata | null;
}

/**
 * Fill in an entry's preprocessing, cut layer and input size. Preprocessing, first that says:
 * the caller's option, the registry entry, backbone.json, Teachable Machine metadata.json; none:
 * refused. Cut layer: option, registry, backbone.json, else the default rule. Collects warnings.
 */
function completeEntry(base: BackboneEntry, model: tf.LayersModel, dir: string, guessed: boolean, warnings: string[], spec: string, options: LoadOptions): Completed {
  const entry = { ...base };
  const sidecar = readSidecar(dir);
  const teachable = readTeachableMetadata(dir);
  const modelInput = inputSizeOf(model);
  let preprocessing: PreprocessingSource = guessed ? 'unstated' : 'registry';
  if (guessed) {
    if (sidecar?.inputSize) entry.inputSize = sidecar.inputSize;
    else if (teachable?.imageSize) entry.inputSize = teachable.imageSize;
    else if (modelInput !== null) entry.inputSize = modelInput;
    else warnings.push(`${entry.name}: the model's input has no fixed size; assuming ${entry.inputSize}x${entry.inputSize} (set inputSize in ${dir}/backbone.json)`);
    if (sidecar?.preprocessing) {
      entry.preprocessing = sidecar.preprocessing;
      preprocessing = 'sidecar';
    } else if (teachable) {
      entry.preprocessing = 'minus1to1';
      preprocessing = 'teachable-machine';
    }
  }
  if (options.preprocessing) {
    entry.preprocessing = options.preprocessing;
    preprocessing = 'option';
  }
  if (preprocessing === 'unstated' && options.requirePreprocessing !== false) throw preprocessingUnstatedError(entry.name, spec, dir);

  let cutLayer: CutLayerSource = 'registry';
  if (options.cutLayer) {
    entry.cutLayer = options.cutLayer;
    cutLayer = 'option';
  } else if (!entry.cutLayer && sidecar?.cutLayer) {
    entry.cutLayer = sidecar.cutLayer;
    cutLayer = 'sidecar';
  } else if (!entry.cutLayer) {
    entry.cutLayer = defaultCutLayer(model);
    cutLayer = 'rule';
  }
  const found = findLayer(model, entry.cutLayer);
  if (!found) {
    const how = cutLayer === 'option' ? '--cut / recipe cutLayer' : cutLayer === 'sidecar' ? `${dir}/backbone.json cutLayer` : 'its registry entry';
    throw new BackboneError(
      'cut-layer-missing',
      `backbone ${entry.name} has no layer '${entry.cutLayer}' to cut at; layers with 4-D output near the end: ${cutCandidates(model).join(', ') || '(none)'} ` +
        `(the name came from ${how}; list every layer with: bnlab layers --backbone ${spec})`,
    );
  }
  if (modelInput !== null && modelInput !== entry.inputSize) {
    warnings.push(`${entry.name}: the model's input is ${modelInput}x${modelInput} but the entry says ${entry.inputSize}; images will be resized to ${entry.inputSize}`);
  }
  if (batchNormLayers(model).length === 0) {
    warnings.push(`${entry.name} has no BatchNormalization layers: BN policies, recalibration and drift have nothing to act on (training the head still works)`);
  }
  return { entry, stated: { preprocessing, cutLayer }, teachable };
}

async function finish(
  base: BackboneEntry,
  location: string,
  source: LoadedBackbone['source'],
  sha256: Record<string, string> | null,
  guessed: boolean,
  warnings: string[],
  spec: string,
  options: LoadOptions,
): Promise<LoadedBackbone> {
  const model = await readAndBuild(location, sha256);
  try {
    const { entry, stated, teachable } = completeEntry(base, model, source.dir, guessed, warnings, spec, options);
    return { name: entry.name, spec, stated, teachable, model, entry, warnings, source };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** An entry for a model that has no registry entry; the rest is filled from the model itself. */
function adHocEntry(name: string, description: string, url: string | null, localDir: string): BackboneEntry {
  return { name, description, url, sha256: null, inputSize: 224, preprocessing: 'minus1to1', cutLayer: '', localDir };
}

function recordedHashes(dir: string): Record<string, string> | null {
  try {
    const source = JSON.parse(fs.readFileSync(path.join(dir, SOURCE_FILE), 'utf8')) as { sha256?: Record<string, string> };
    return source.sha256 ?? null;
  } catch {
    return null;
  }
}

async function loadRegistered(entry: BackboneEntry, config: BnlabConfig, options: LoadOptions): Promise<LoadedBackbone> {
  const candidates = localCandidates(entry, config);
  for (const { location, dir } of candidates) {
    if (!hasModel(dir)) continue;
    // The bundled demo is versioned with the code; hashes apply to the published files.
    return finish(entry, dir, { location, dir }, location === 'bundled' ? null : entry.sha256, false, [], entry.name, options);
  }
  const looked = candidates.map((c) => c.dir).join(', ');
  const modelsDirHint = config.modelsDir
    ? `BNLAB_MODELS_DIR is ${config.modelsDir}, which has no ${entry.localDir}/model.json`
    : 'BNLAB_MODELS_DIR is not set';
  if (!entry.url) {
    throw new BackboneError('download-failed', `backbone '${entry.name}' has no local copy (looked in ${looked}) and no download URL; ${modelsDirHint}`);
  }
  const cacheDir = path.join(config.cacheDir, entry.name);
  let warnings: string[];
  try {
    ({ warnings } = await downloadModel(entry.url, cacheDir, { sha256: entry.sha256, fetchImpl: options.fetchImpl, timeoutMs: options.timeoutMs }));
  } catch (err) {
    if (!(err instanceof BackboneError) || err.code !== 'download-failed') throw err;
    throw new BackboneError(
      'download-failed',
      `backbone '${entry.name}' is not available locally (looked in ${looked}) and downloading it from ${entry.url} failed: ${err.message}. ` +
        `${modelsDirHint}; set BNLAB_MODELS_DIR to a folder that holds ${entry.localDir}/model.json, or allow network access to ${entry.url}.`,
    );
  }
  return finish(entry, cacheDir, { location: 'cache', dir: cacheDir }, entry.sha256, false, warnings, entry.name, options);
}

/** Cache folder for an arbitrary model URL: stable per URL. */
export function urlCacheDir(config: BnlabConfig, url: string): string {
  return path.join(config.cacheDir, `url-${crypto.createHash('sha256').update(url).digest('hex').slice(0, 16)}`);
}

async function loadUrl(url: string, config: BnlabConfig, options: LoadOptions): Promise<LoadedBackbone> {
  const dir = urlCacheDir(config, url);
  const segments = new URL(url).pathname.split('/').filter(Boolean);
  const name = segments.length >= 2 ? decodeURIComponent(segments[segments.length - 2]) : path.basename(dir);
  const entry = adHocEntry(name, `model downloaded from ${url}`, url, path.basename(dir));
  let warnings: string[] = [];
  if (!hasModel(dir)) ({ warnings } = await downloadModel(url, dir, { sha256: null, fetchImpl: options.fetchImpl, timeoutMs: options.timeoutMs }));
  // Re-check cached bytes against the hashes recorded at download time.
  return finish(entry, dir, { location: 'url-cache', dir }, recordedHashes(dir), true, warnings, url, options);
}

async function loadPath(location: string, name: string, source: LoadedBackbone['source'], spec: string, options: LoadOptions): Promise<LoadedBackbone> {
  const dir = source.dir;
  const entry = adHocEntry(name, `model loaded from ${location}`, readSourceUrl(dir), path.basename(dir));
  return finish(entry, location, source, recordedHashes(dir), true, [], spec, options);
}

/** Load a backbone by registry name, path (model.json or its folder) or http(s) URL. */
export async function loadBackbone(spec: string, config: BnlabConfig, options: LoadOptions = {}): Promise<LoadedBackbone> {
  const registry = options.registry ?? backboneRegistry();
  if (isUrl(spec)) return loadUrl(spec, config, options);
  const entry = findBackboneEntry(spec, registry);
  if (entry) return loadRegistered(entry, config, options);

  const asPath = path.resolve(expandHome(spec));
  if (looksLikePath(spec) || fs.existsSync(asPath)) {
    if (!fs.existsSync(asPath)) throw new BackboneError('missing-model-json', `no model.json: ${asPath} does not exist`);
    const isFile = fs.statSync(asPath).isFile();
    const dir = isFile ? path.dirname(asPath) : asPath;
    return loadPath(asPath, path.basename(dir), { location: 'path', dir }, spec, options);
  }

  if (isPlainName(spec)) {
    for (const [location, root] of [['models-dir', config.modelsDir], ['cache', config.cacheDir]] as const) {
      const dir = root ? path.join(root, spec) : null;
      if (dir && hasModel(dir)) return loadPath(dir, spec, { location, dir }, spec, options);
    }
  }
  const known = registry.map((e) => e.name).join(', ');
  throw new BackboneError(
    'unknown-name',
    `unknown backbone '${spec}'. Known names: ${known}. Or pass a path to a model.json (or its folder), or an http(s) URL of a model.json.`,
  );
}
