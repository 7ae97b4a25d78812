/**
 * `corrupt`: a corrupted copy of a labelled image folder's evaluation images, with the same class
 * folders, for measuring how a model (and test-time adaptation) copes with distribution shift.
 *
 * Which images: the `val` split (root/val/<class>/* of a {train,val} folder, or the seeded
 * stratified val part of a root/<class>/* folder, with the recipe defaults valFraction 0.2 and
 * seed 0 unless given), or every image with split 'all'. The copy is a flat root/<class>/* folder,
 * so `evaluate` and `adapt` use all of it.
 * Each image is decoded as training would decode it for a network of `size` pixels (shorter side
 * ceil(1.15 × size), data/decode.ts), corrupted there (data/corruptions.ts), and written as PNG, so
 * nothing is resampled or re-compressed on top of the corruption. A hidden `.bnlab-corruption.json`
 * records what was done. An existing non-empty output folder is refused, never overwritten.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { corruptImage, corruptionParameter, encodePng, PARAMETER_NAMES, type CorruptionName } from '../data/corruptions.ts';
import { decodeImage, ImageDecodeError } from '../data/decode.ts';
import { scanImageFolder, type SkippedFile } from '../data/scan.ts';
import { writeFileAtomic } from '../runs/atomic-write.ts';
import { requireEmptyOrMissing } from './output-folder.ts';

export const CORRUPTION_MANIFEST = '.bnlab-corruption.json';

export interface CorruptFolderOptions {
  data: string;
  corruption: string;
  severity: number;
  out: string;
  /** noise seed (default 0) */
  seed?: number;
  /** network input size the copy is decoded for (default 224) */
  size?: number;
  /** 'val' (default) or 'all' */
  split?: 'val' | 'all';
  /** for root/<class>/* folders: the split's val fraction and seed (recipe defaults 0.2 and 0) */
  valFraction?: number;
  splitSeed?: number;
  onImage?: (done: number, total: number) => void;
}

export interface CorruptFolderResult {
  out: string;
  corruption: CorruptionName;
  severity: number;
  parameter: number;
  parameterName: string;
  images: number;
  classes: string[];
  skipped: SkippedFile[];
}

export async function corruptFolder(opts: CorruptFolderOptions): Promise<CorruptFolderResult> {
  let parameter: number;
  try {
    parameter = corruptionParameter(opts.corruption, opts.severity);
  } catch (error) {
    const flag = /severity/.test((error as Error).message) ? '--severity' : '--corruption';
    throw new Error(`${flag}: ${(error as Error).message}`);
  }
  const corruption = opts.corruption as CorruptionName;
  const size = opts.size ?? 224;
  if (!Number.isInteger(size) || size < 8) throw new Error(`--size must be an integer of at least 8 pixels, got ${opts.size}`);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${opts.seed}`);
  const out = path.resolve(opts.out);
  await requireEmptyOrMissing(out);
  let split;
  try {
    split = await scanImageFolder(path.resolve(opts.data), { valFraction: opts.valFraction ?? 0.2, seed: opts.splitSeed ?? 0 });
  } catch (error) {
    throw new Error(`--data: ${(error as Error).message}`);
  }
  if (out === split.root || out.startsWith(`${split.root}${path.sep}`)) throw new Error(`--out ${out} is inside --data ${split.root}; write the copy elsewhere`);
  const items = opts.split === 'all' ? [...split.train, ...split.val] : split.val;
  if (items.length === 0) throw new Error(`--data ${split.root}: the val split has no images (use --split all to corrupt every image)`);

  const skipped: SkippedFile[] = [...split.skipped];
  let written = 0;
  for (const [index, item] of items.entries()) {
    const className = split.classes[item.label];
    // path inside the class folder: train/<class>/a/b.jpg -> <class>/a/b.png
    const relative = relativeInClass(item.path, split.root, className);
    const target = path.join(out, className, relative.replace(/\.[^./\\]+$/, '') + '.png');
    try {
      const image = await decodeImage(item.path, { targetSize: size });
      const corrupted = await corruptImage(image, corruption, opts.severity, { seed, key: path.relative(split.root, item.path) });
      await fs.mkdir(path.dirname(target), { recursive: true });
      await fs.writeFile(target, await encodePng(corrupted), { flag: 'wx' });
      written++;
    } catch (error) {
      if (!(error instanceof ImageDecodeError) && (error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      skipped.push({ path: item.path, reason: error instanceof ImageDecodeError ? error.reason : `two source files map to ${target}` });
    }
    opts.onImage?.(index + 1, items.length);
  }
  const result: CorruptFolderResult = {
    out,
    corruption,
    severity: opts.severity,
    parameter,
    parameterName: PARAMETER_NAMES[corruption],
    images: written,
    classes: split.classes,
    skipped,
  };
  await writeFileAtomic(
    path.join(out, CORRUPTION_MANIFEST),
    JSON.stringify({ ...result, source: split.root, split: opts.split ?? 'val', seed, size, time: new Date().toISOString() }, null, 2),
  );
  return result;
}

/** The image's path below its class folder (in either split of a {train,val} layout). */
function relativeInClass(file: string, root: string, className: string): string {
  for (const base of [path.join(root, 'val'), path.join(root, 'train'), root]) {
    const classDir = path.join(base, className);
    if (file.startsWith(`${classDir}${path.sep}`)) return path.relative(classDir, file);
  }
  return path.basename(file);
}
