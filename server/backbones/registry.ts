/**
 * The backbone registry, as data (timm-style pretrained configs): where each named backbone comes
 * from, how to check its bytes, how big its input is, how its pixels are scaled and where to cut it.
 * Resolution (models dir, cache, URL) lives in load.ts; this file only describes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { PROJECT_ROOT, type BnlabConfig } from '../config.ts';
import { PreprocessingSchema, type Preprocessing } from '../schema/preprocessing.ts';

export interface BackboneEntry {
  name: string;
  description: string;
  /** URL of model.json; shards are fetched relative to it. null: not downloadable. */
  url: string | null;
  /** file name -> sha256 (hex) of model.json and every shard, or null when not known. */
  sha256: Record<string, string> | null;
  /** square input side in pixels */
  inputSize: number;
  /** pixel scaling, schema.ts Preprocessing ('minus1to1': x / 127.5 - 1; 'zero1': x / 255; 'imagenet'; { mean, std }) */
  preprocessing: Preprocessing;
  /**
   * Name of the layer whose output becomes the features (it may sit inside a nested container).
   * The empty string means "guess it from the model when loading" (see cut-layer.ts).
   */
  cutLayer: string;
  /** folder name under the models dir */
  localDir: string;
  /** absolute folder shipped inside the repository (the demo backbone), if any */
  bundledDir?: string;
}

/** Sidecar `backbone.json` beside a model.json: overrides for cut layer, input size, preprocessing. */
export const BackboneSidecarSchema = z.object({
  cutLayer: z.string().min(1).optional(),
  inputSize: z.number().int().positive().optional(),
  /** a named mode ('[-1,1]', '[0,1]', 'imagenet', ...) or { mean, std } (see schema.ts PreprocessingSchema) */
  preprocessing: PreprocessingSchema.optional(),
});
export type BackboneSidecar = z.infer<typeof BackboneSidecarSchema>;
export const SIDECAR_FILE = 'backbone.json';

/** Read `<dir>/backbone.json` if present; a malformed one is an error that names the file. */
export function readSidecar(dir: string): BackboneSidecar | null {
  const file = path.join(dir, SIDECAR_FILE);
  if (!fs.existsSync(file)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = BackboneSidecarSchema.safeParse(raw);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new Error(`${file} is invalid: ${fields.join('; ')}`);
  }
  return parsed.data;
}

export const DEMO_BACKBONE_DIR = path.join(PROJECT_ROOT, 'assets', 'demo-backbone');

/**
 * sha256 of Google's published MobileNet v1 0.25/224 files. Taken from the shared copy's
 * SHA256SUMS; that copy is the model Google serves at the registry URL (provenance in
 * ../shared/models/README.md).
 */
const MOBILENET_V1_025_224_SHA256: Record<string, string> = {
    'group1-shard1of1': 'edabf35aefbb81c92764cbfff6319c77376bfc36febff8fcda7af703d2b2d6aa',
    'group2-shard1of1': '2c1e2fdf2b434592a87f2473ee63eaadec9b9992274bf894bf9022aa62a4b295',
    'group3-shard1of1': '5c6dc065b191c2d25817b1363962b3750b10f12d1da45503d4f2b35f63828b44',
    'group4-shard1of1': '6d0bdad897777f9eff6645374b533887cc446ebbb775ee9c4fb6ba3651c39be8',
    'group5-shard1of1': 'b0d70f6c3943ff882969ee42494650cbad05b6358ae4dd7fb767052e2c8d61a9',
    'group6-shard1of1': 'b1670b847b867f3375c5c28182f8dc7ec4cd5227e8a288e63c205057b4bcae06',
    'group7-shard1of1': '9449cf689bf0c590b8637e2d85cd66121af6e24ef23e327e1e9616e33c943ccf',
    'group8-shard1of1': 'ff90f4c898656ab72f1b22c661527d33ea24c277e0ec41a694b796bc70bbef62',
    'group9-shard1of1': '619417b59fbc5c8b19c0103a1356d8c6cc2edbbacae04d61bd66d568ca44ca10',
    'group10-shard1of1': '56e538501e0a023c76eef09155492d06ac9b6c23e1ff740ce41b82b3c31d6e94',
    'group11-shard1of1': '5f089a0979fa68b7637bf26c51e866b6e08d2bad72e1a3e10dec081d551133e2',
    'group12-shard1of1': '47b68d00ca57c0b6e39fb9d39e4eb7dabf0b99ec38c49bc45e1397cea329fe46',
    'group13-shard1of1': '7b7c74cb5c301312a7c62c9eeb4fdc8c5c57880f58268c32c1060bae7452a93a',
    'group14-shard1of1': '1403fb88a00a1ee465631c6fdb8eec0d532a7b4d9e946f03ae6848304bf41082',
    'group15-shard1of1': '31fc5c67b4f0f32a86069c90f5098988fb4b6b9d6e837cde9318bf82c6ace283',
    'group16-shard1of1': '45befac068de20c8d151a3cba9f7d09a0d4e0fd23e786a78615a98eb0800b1a5',
    'group17-shard1of1': '268bfbd17bd9333c3867de58d15c359f8211111b47130361fc078ad85c838c17',
    'group18-shard1of1': 'fd6b29d8b2c4b14cb68b23c5b065c98cb5bf5b1bb591823fabbbf59a5699dcb3',
    'group19-shard1of1': '65f3ba8b805628857d9305ddec4b07b2ba3c578a7740d10791384a3ff5574ad1',
    'group20-shard1of1': '7050469756997f7f39f29123924e4d570740c865b9778102b4b5e860a60d2445',
    'group21-shard1of1': 'b7ac12c0857e6de96b0973df3f68bfe0d49a24f2408c120fe698e4b892bf00cc',
    'group22-shard1of1': '5206911ca627537095d3b4f6389df6d3d6397a7faee336e67215b71a691c8ae9',
    'group23-shard1of1': '67a89784137ea9720e6c5ee9d70113933e087100f3f0df3eebefda9dc11c72a3',
    'group24-shard1of1': 'c6fec2526a167ae899ad6bc96a27a4e525ef5e94da0c23a37465ecae266afd4d',
    'group25-shard1of1': '8dd9917bfc71ffec7d2f9b8a74a47b59fbc1f7d03e18c1a7996fb64cca244cb7',
    'group26-shard1of1': '93fd2a5988cb4578cf6ccb7f65eaf838621307923b726f4d34a9a69c82aa7835',
    'group27-shard1of1': '71a4b8f17edb37acb78b0acd6d666f247fbd41588528f84c74514054274f91bb',
    'group28-shard1of1': '88a53e2fe1d619390a3783149161113d6c792262133bd07d2a7ee0f0c8176e00',
    'group29-shard1of1': 'f047ff48ce2829fd9c10bbae13c9443d77d2450c3373b47ca3f8b837f0012789',
    'group30-shard1of1': '165a39308c2b2db017e4e1c70d70014da8e7b2057d214a92b87ccd0aa8ecb8da',
    'group31-shard1of1': 'be3ae0501d536d6b8ebc9848b978062772dff56591473a3d593cdd23bad8557b',
    'group32-shard1of1': '6bab02eafbdb5743a75b8a18f4676f0206b9b2ddfe58bb752b3624fef4570bee',
    'group33-shard1of1': '53adf89e30f46c58b4f2d692e3f74901346e0d9220abd42910069aa04b8a2ec6',
    'group34-shard1of1': '1f43e3baf5e0c002b161da703a15c05f331e6369da2ec24d9427365052e8ea02',
    'group35-shard1of1': '1277abc3755440b0589d7c19630c48ff996c7ed64cfdf29c9dfcc539db5788ea',
    'group36-shard1of1': 'fa47f3541eea153174b3159d5fe2d376de467a49925870fea3804f31253ca227',
    'group37-shard1of1': '00ede3172b77a23b95371ea79f0480b6a46c296c3c875732beeb213278223c4e',
    'group38-shard1of1': 'f9cda80d267ab6ef2c657afed93c1f0342db0a14c8c61ee8036dcd6ba04cf526',
    'group39-shard1of1': '0a9369be8b5dfb7f25eb782ca9d57bcf5c6018a60c5789975b7c802d2e9a8033',
    'group40-shard1of1': 'e29621b35ebb0a35d22a11ae5b1bb070c0526577bd92ed9c2cbf0a63f055b4e1',
    'group41-shard1of1': 'ac7417eb2b88016e6aed832a0cb61369e6457a7bbfef1167c22e49e00cf2a315',
    'group42-shard1of1': '7c292473c55e234091f8d99422743779a5a9e8f91d49c90ef9a77432290299d4',
    'group43-shard1of1': '74ec361a7398c2510727c6a513f6e79a407aa5332f8a1b2b8c992b445a108c98',
    'group44-shard1of1': 'ea7b1678a5eecbbec96a7aacb5577f54df43f71be8ee2480b5942e717488f6de',
    'group45-shard1of1': '56f8ed19d60e630e7a528adc90bc7215991c42606435be271ba2e1301317f353',
    'group46-shard1of1': '32124cabcfdc5859466b6af656c8467fb4a48bdaac6382ab5b5db015565a09b4',
    'group47-shard1of1': '34fa5b0e22b0d998a9fe503fb921cf947c1f163d4b70017801cb6e900b1ab6d5',
    'group48-shard1of1': 'b2be37c058ad99a6bd51ca54884b3dfe278b33e5372d470ba8f4a8859139fb7d',
    'group49-shard1of1': '59fa80185c94b52f85592b65de71563a8acca6ed5cb94c4ae8f2a02ec97e808c',
    'group50-shard1of1': '530f049c43b9f31f2e4aa2663723a5090cdec42f243833f348acb400a386311c',
    'group51-shard1of1': '1d202ecdbb7d48aa152ccb8cc34b24812f774038802f80a3e8889b3ab3b48599',
    'group52-shard1of1': 'ce01c0edb4584d50dddaf7d0deba4ab156b43176c8810a92b21ab0b239cecfba',
    'group53-shard1of1': '6cca55e52e39b97b87d67a21180fba53e51d3e2cdbb157ebfa09530836119364',
    'group54-shard1of1': '63f0914ba3f4cd773e2b4eae2235ab43cb325b1ab21f1dc7325160b5b6aa0f3b',
    'group55-shard1of1': 'a762f7d6c962f43b16e8ef3fede568eac7f6fb2941af14cb25ef9a211e50f704',
    'model.json': 'd14c680e069d74143e3771c291cf3fd153ee88b6ea9ee44bfaf84e2008ded44e',
};

const MOBILENET_V1: BackboneEntry = {
  name: 'mobilenet_v1_0.25_224',
  description: 'Keras MobileNet v1, width 0.25, 224x224, ImageNet-1k (27 BN layers, 256-d features)',
  url: 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_0.25_224/model.json',
  sha256: MOBILENET_V1_025_224_SHA256,
  inputSize: 224,
  preprocessing: 'minus1to1',
  cutLayer: 'conv_pw_13_relu',
  localDir: 'mobilenet_v1_0.25_224',
};

/**
 * MobileNetV2 alpha 0.35 as Teachable Machine serves it. The URL is the no-top feature extractor;
 * the shared local copy is a Teachable Machine export that wraps the same backbone (inner
 * functional model + pooling + a small head). Their files differ, and the URL's hashes are not
 * known here, so no sha256 is recorded (downloads are reported as unverified).
 */
const TEACHABLE_MOBILENET_V2: BackboneEntry = {
  name: 'teachable_mobilenet_v2_0.35_224',
  description: 'Keras MobileNetV2, alpha 0.35, 224x224, ImageNet weights via Teachable Machine (52 BN layers, 1280-d features)',
  url: 'https://storage.googleapis.com/teachable-machine-models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top/model.json',
  sha256: null,
  inputSize: 224,
  preprocessing: 'minus1to1',
  cutLayer: 'out_relu',
  localDir: 'teachable_mobilenet_v2_0.35_224',
};

/**
 * bnlab's own small BN backbone, shipped in the repository. Its `backbone.json` sidecar (written by
 * the script that trains it) is read on every call so that a retrained demo is picked up.
 */
export function demoEntry(bundledDir = DEMO_BACKBONE_DIR): BackboneEntry {
  const sidecar = readSidecar(bundledDir);
  return {
    name: 'demo',
    description: "bnlab's embedded demo backbone (small BN convnet, trained by a script in the repo)",
    url: null,
    sha256: null,
    inputSize: sidecar?.inputSize ?? 64,
    preprocessing: sidecar?.preprocessing ?? 'minus1to1',
    cutLayer: sidecar?.cutLayer ?? '',
    localDir: 'demo',
    bundledDir,
  };
}

/** Every registered backbone, shipped order. */
export function backboneRegistry(): BackboneEntry[] {
  return [MOBILENET_V1, TEACHABLE_MOBILENET_V2, demoEntry()];
}

export function findBackboneEntry(name: string, registry: readonly BackboneEntry[] = backboneRegistry()): BackboneEntry | null {
  return registry.find((entry) => entry.name === name) ?? null;
}

/** Where a backbone can be loaded from right now, without network unless `location` is 'download'. */
export type BackboneLocation = 'models-dir' | 'cache' | 'bundled' | 'download';

export interface BackboneListing {
  name: string;
  description: string;
  /** true for registry entries; false for folders found in the models dir or cache */
  registered: boolean;
  /** the first place load.ts would take it from; null: nowhere (not local, no URL) */
  location: BackboneLocation | null;
  /** folder holding model.json when local; null otherwise */
  path: string | null;
  url: string | null;
  /** loadable without network */
  availableOffline: boolean;
}

/** A registry name or folder name usable as a single path component. */
export function isPlainName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name);
}

function hasModelJson(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'model.json'));
}

function subfoldersWithModel(root: string | null): string[] {
  if (!root || !fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && isPlainName(d.name) && hasModelJson(path.join(root, d.name)))
    .map((d) => d.name)
    .sort();
}

/** Local candidates for a registry entry, in resolution order (see load.ts). */
export function localCandidates(entry: BackboneEntry, config: BnlabConfig): { location: BackboneLocation; dir: string }[] {
  const out: { location: BackboneLocation; dir: string }[] = [];
  if (config.modelsDir) out.push({ location: 'models-dir', dir: path.join(config.modelsDir, entry.localDir) });
  out.push({ location: 'cache', dir: path.join(config.cacheDir, entry.name) });
  if (entry.bundledDir) out.push({ location: 'bundled', dir: entry.bundledDir });
  return out;
}

/**
 * Shipped entries plus unregistered backbones found in the models dir and the cache, each with
 * where it would be loaded from.
 */
export function listBackbones(config: BnlabConfig, registry: readonly BackboneEntry[] = backboneRegistry()): BackboneListing[] {
  const listings: BackboneListing[] = registry.map((entry) => {
    const local = localCandidates(entry, config).find((c) => hasModelJson(c.dir));
    const location: BackboneLocation | null = local?.location ?? (entry.url ? 'download' : null);
    return {
      name: entry.name,
      description: entry.description,
      registered: true,
      location,
      path: local?.dir ?? null,
      url: entry.url,
      availableOffline: local !== undefined,
    };
  });
  const taken = new Set(registry.flatMap((e) => [e.name, e.localDir]));
  const extra = (root: string | null, location: BackboneLocation) => {
    for (const name of subfoldersWithModel(root)) {
      if (taken.has(name)) continue;
      taken.add(name);
      const dir = path.join(root!, name);
      listings.push({
        name,
        description: location === 'cache' ? `cached download${sourceUrlSuffix(dir)}` : `model found in ${root}`,
        registered: false,
        location,
        path: dir,
        url: readSourceUrl(dir),
        availableOffline: true,
      });
    }
  };
  extra(config.modelsDir, 'models-dir');
  extra(config.cacheDir, 'cache');
  return listings;
}

/** Downloads record where they came from in this file inside their cache folder. */
export const SOURCE_FILE = '.bnlab-source.json';

export function readSourceUrl(dir: string): string | null {
  try {
    const source = JSON.parse(fs.readFileSync(path.join(dir, SOURCE_FILE), 'utf8')) as { url?: unknown };
    return typeof source.url === 'string' ? source.url : null;
  } catch {
    return null;
  }
}

function sourceUrlSuffix(dir: string): string {
  const url = readSourceUrl(dir);
  return url ? ` of ${url}` : '';
}
