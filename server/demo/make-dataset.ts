/**
 * Writes the embedded demo dataset: TARGET_CLASSES in the shifted 'night' style as PNGs in
 * `outDir/{train,val}/<class>/<class>-<index>.png` (the bnlab image-folder layout).
 *
 * Atomic: everything is written into a sibling temp folder which is renamed into place at the end,
 * so a reader never sees half a dataset. Idempotent: a folder whose marker file records the same
 * generator version and options is left alone. A folder without our marker is never deleted.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { BnlabConfig } from '../config.ts';
import { DEFAULT_IMAGE_SIZE, imageSeed, renderShapeImage, TARGET_CLASSES, type DomainStyle } from './synthetic.ts';

export const DEMO_DATASET_MARKER = '.bnlab-demo-dataset.json';
/** Bump when the generator's output changes, so old folders are regenerated. */
export const DEMO_DATASET_VERSION = 2; // 2: seeds and PRNG from server/data/random.ts
export const DEMO_DATASET_STYLE: DomainStyle = 'night';

export interface DemoDatasetOptions {
  seed?: number;
  perClassTrain?: number;
  perClassVal?: number;
}

export interface DemoDatasetSummary {
  classes: string[];
  train: number;
  val: number;
}

interface Marker extends DemoDatasetSummary {
  version: number;
  style: DomainStyle;
  seed: number;
  perClassTrain: number;
  perClassVal: number;
  imageSize: number;
}

async function readMarker(dir: string): Promise<Marker | null> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, DEMO_DATASET_MARKER), 'utf8')) as Marker;
  } catch {
    return null;
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

export async function makeDemoDataset(outDir: string, opts: DemoDatasetOptions = {}): Promise<DemoDatasetSummary> {
  const seed = opts.seed ?? 0;
  const perClassTrain = opts.perClassTrain ?? 60;
  const perClassVal = opts.perClassVal ?? 30;
  for (const [name, value] of Object.entries({ seed, perClassTrain, perClassVal })) {
    if (!Number.isInteger(value) || value < (name === 'seed' ? 0 : 1)) throw new Error(`makeDemoDataset: ${name} must be a ${name === 'seed' ? 'non-negative' : 'positive'} integer, got ${value}`);
  }
  const wanted: Marker = {
    version: DEMO_DATASET_VERSION,
    style: DEMO_DATASET_STYLE,
    seed,
    perClassTrain,
    perClassVal,
    imageSize: DEFAULT_IMAGE_SIZE,
    classes: [...TARGET_CLASSES],
    train: perClassTrain * TARGET_CLASSES.length,
    val: perClassVal * TARGET_CLASSES.length,
  };
  const summary = (m: Marker): DemoDatasetSummary => ({ classes: m.classes, train: m.train, val: m.val });

  const current = await readMarker(outDir);
  const sameAsWanted = (m: Marker | null) => m !== null && JSON.stringify(m) === JSON.stringify(wanted);
  if (sameAsWanted(current)) return summary(wanted);
  if (!current && (await exists(outDir)) && (await fs.readdir(outDir)).length > 0) {
    throw new Error(`makeDemoDataset: ${outDir} exists, is not empty and is not a bnlab demo dataset; refusing to overwrite it`);
  }

  await fs.mkdir(path.dirname(outDir), { recursive: true });
  const temp = await fs.mkdtemp(`${outDir}.tmp-`);
  try {
    for (const [split, perClass] of [['train', perClassTrain], ['val', perClassVal]] as const) {
      for (const shape of TARGET_CLASSES) {
        const classDir = path.join(temp, split, shape);
        await fs.mkdir(classDir, { recursive: true });
        for (let i = 0; i < perClass; i++) {
          const image = renderShapeImage(shape, DEMO_DATASET_STYLE, imageSeed(seed, split, shape, i), DEFAULT_IMAGE_SIZE);
          const file = path.join(classDir, `${shape}-${String(i).padStart(4, '0')}.png`);
          await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } }).png().toFile(file);
        }
      }
    }
    await fs.writeFile(path.join(temp, DEMO_DATASET_MARKER), `${JSON.stringify(wanted, null, 2)}\n`);
    await moveIntoPlace(temp, outDir);
  } catch (error) {
    await fs.rm(temp, { recursive: true, force: true });
    // Another process may have finished the same dataset first; that is success, not failure.
    if (sameAsWanted(await readMarker(outDir))) return summary(wanted);
    throw error;
  }
  return summary(wanted);
}

/** Rename `temp` to `outDir`; an older demo dataset (or empty folder) there is moved aside first. */
async function moveIntoPlace(temp: string, outDir: string): Promise<void> {
  if (!(await exists(outDir))) {
    await fs.rename(temp, outDir);
    return;
  }
  const old = `${outDir}.old-${process.pid}-${Date.now()}`;
  await fs.rename(outDir, old);
  await fs.rename(temp, outDir);
  await fs.rm(old, { recursive: true, force: true });
}

/**
 * Make sure the default demo dataset exists under config.demoDataDir (data/demo), making it if it is
 * missing or was made by another generator version; returns that folder's path.
 */
export async function ensureDemoDataset(config: Pick<BnlabConfig, 'demoDataDir'>, opts: DemoDatasetOptions = {}): Promise<string> {
  await makeDemoDataset(config.demoDataDir, opts);
  return config.demoDataDir;
}
