/**
 * Scan a user's image folder into labelled train/val lists, torchvision `ImageFolder` style:
 * class index = position of the class folder's name in sorted (code unit) order.
 *
 * Layouts:
 *   'split': root/train/<class>/... and root/val/<class>/... (the class lists must be equal)
 *   'flat':  root/<class>/...; a stratified split per class with a seeded shuffle: each class with
 *            n >= 2 images gives round(n * valFraction) images to val, clamped to [1, n - 1]; a class
 *            with one image keeps it in train (and the scan warns).
 *
 * Class folders are walked recursively (as ImageFolder does) following symlinks; a directory whose
 * real path was already visited (a symlink loop or a second link to the same folder) is skipped
 * and listed. Hidden entries (dot-files, dot-folders such as .ipynb_checkpoints) are ignored
 * silently; other files without an image extension are listed in `skipped`.
 * Only names are checked here: whether a file really decodes is decided later (decode.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { createRng, hashSeed, shuffleInPlace } from './random.ts';

export interface ImageItem {
  path: string;
  label: number;
}

export interface SkippedFile {
  path: string;
  reason: string;
}

export interface ImageFolderSplit {
  root: string;
  layout: 'split' | 'flat';
  classes: string[];
  train: ImageItem[];
  val: ImageItem[];
  skipped: SkippedFile[];
  /** Non-fatal findings a user should see (e.g. a class with a single image). */
  warnings: string[];
}

export interface ScanOptions {
  /** Fraction of each class that goes to val, for the 'flat' layout only. */
  valFraction: number;
  seed: number;
}

/** Extensions accepted by name (compared lower-case). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff']);

export const UNSUPPORTED_EXTENSION = 'unsupported extension';

/** A data folder the pipeline cannot use; `folder` is the folder the message is about. */
export class DataFolderError extends Error {
  constructor(
    message: string,
    readonly folder: string,
  ) {
    super(message);
    this.name = 'DataFolderError';
  }
}

export function isImageFileName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());
}

export async function scanImageFolder(root: string, opts: ScanOptions): Promise<ImageFolderSplit> {
  if (!(opts.valFraction > 0 && opts.valFraction < 1)) {
    throw new RangeError(`valFraction must be in (0, 1), got ${opts.valFraction}`);
  }
  const absRoot = path.resolve(root);
  await requireDirectory(absRoot, 'data folder');

  const skipped: SkippedFile[] = [];
  const warnings: string[] = [];
  const top = await listVisible(absRoot);
  const topDirs = new Set(top.filter((e) => e.kind === 'dir').map((e) => e.name));

  if (topDirs.has('train') || topDirs.has('val')) {
    if (!topDirs.has('train') || !topDirs.has('val')) {
      const missing = topDirs.has('train') ? 'val' : 'train';
      throw new DataFolderError(
        `${absRoot} has ${missing === 'val' ? 'train' : 'val'}/ but no ${missing}/: use root/{train,val}/<class>/* ` +
          `or root/<class>/* (and then no class may be called "train" or "val")`,
        absRoot,
      );
    }
    for (const entry of top) if (entry.kind !== 'dir') skipped.push(notInClassFolder(entry));
    const trainDir = path.join(absRoot, 'train');
    const valDir = path.join(absRoot, 'val');
    const trainClasses = await scanClasses(trainDir, skipped);
    const valClasses = await scanClasses(valDir, skipped);
    const trainNames = [...trainClasses.keys()];
    const valNames = [...valClasses.keys()];
    const onlyTrain = trainNames.filter((c) => !valClasses.has(c));
    const onlyVal = valNames.filter((c) => !trainClasses.has(c));
    if (onlyTrain.length || onlyVal.length) {
      const parts = [];
      if (onlyTrain.length) parts.push(`only in train/: ${onlyTrain.join(', ')}`);
      if (onlyVal.length) parts.push(`only in val/: ${onlyVal.join(', ')}`);
      throw new DataFolderError(`class folders differ between ${trainDir} and ${valDir} (${parts.join('; ')})`, absRoot);
    }
    const classes = trainNames;
    requireTwoClasses(classes, trainDir);
    return {
      root: absRoot,
      layout: 'split',
      classes,
      train: classes.flatMap((name, label) => trainClasses.get(name)!.map((p) => ({ path: p, label }))),
      val: classes.flatMap((name, label) => valClasses.get(name)!.map((p) => ({ path: p, label }))),
      skipped,
      warnings,
    };
  }

  for (const entry of top) if (entry.kind !== 'dir') skipped.push(notInClassFolder(entry));
  const byClass = await scanClasses(absRoot, skipped);
  const classes = [...byClass.keys()];
  requireTwoClasses(classes, absRoot);
  const train: ImageItem[] = [];
  const val: ImageItem[] = [];
  classes.forEach((name, label) => {
    const files = [...byClass.get(name)!];
    // One stream per class name, so adding or removing a class does not reshuffle the others.
    shuffleInPlace(files, createRng(hashSeed(opts.seed, fnv1a(name))));
    const valCount = stratifiedValCount(files.length, opts.valFraction);
    if (files.length === 1) {
      warnings.push(`class "${name}" has a single image (${files[0]}): it goes to train, val has none of this class`);
    }
    const valFiles = new Set(files.slice(0, valCount));
    // Keep both lists in sorted path order inside each class: readable, and independent of the shuffle.
    for (const file of byClass.get(name)!) (valFiles.has(file) ? val : train).push({ path: file, label });
  });
  return { root: absRoot, layout: 'flat', classes, train, val, skipped, warnings };
}

/** round(n * valFraction) clamped to [1, n - 1] when n >= 2; 0 when n < 2. */
export function stratifiedValCount(n: number, valFraction: number): number {
  if (n < 2) return 0;
  return Math.min(n - 1, Math.max(1, Math.round(n * valFraction)));
}

// ---------------------------------------------------------------------------------------------

interface Entry {
  name: string;
  path: string;
  kind: 'dir' | 'file' | 'broken-link' | 'other';
}

async function requireDirectory(dir: string, what: string): Promise<void> {
  let stat;
  try {
    stat = await fs.stat(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataFolderError(`${what} not found: ${dir}`, dir);
    if (code === 'ELOOP') throw new DataFolderError(`${what} is a symlink loop: ${dir}`, dir);
    throw new DataFolderError(`cannot read ${what} ${dir}: ${(error as Error).message}`, dir);
  }
  if (!stat.isDirectory()) throw new DataFolderError(`${what} is not a directory: ${dir}`, dir);
}

/** Visible (non-dot) entries of a directory, sorted by name, symlinks resolved to their target kind. */
async function listVisible(dir: string): Promise<Entry[]> {
  let dirents;
  try {
    dirents = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new DataFolderError(`cannot list ${dir}: ${(error as Error).message}`, dir);
  }
  const entries: Entry[] = [];
  for (const dirent of dirents) {
    if (dirent.name.startsWith('.')) continue;
    const full = path.join(dir, dirent.name);
    let kind: Entry['kind'];
    if (dirent.isDirectory()) kind = 'dir';
    else if (dirent.isFile()) kind = 'file';
    else if (dirent.isSymbolicLink()) {
      try {
        const target = await fs.stat(full);
        kind = target.isDirectory() ? 'dir' : target.isFile() ? 'file' : 'other';
      } catch {
        kind = 'broken-link'; // dangling, or a link cycle (ELOOP)
      }
    } else kind = 'other';
    entries.push({ name: dirent.name, path: full, kind });
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function notInClassFolder(entry: Entry): SkippedFile {
  return { path: entry.path, reason: entry.kind === 'broken-link' ? 'broken symlink' : 'not inside a class folder' };
}

/** Map class name -> sorted image paths, for every visible sub-folder of `parent`. */
async function scanClasses(parent: string, skipped: SkippedFile[]): Promise<Map<string, string[]>> {
  const entries = await listVisible(parent);
  const classDirs = entries.filter((e) => e.kind === 'dir');
  if (classDirs.length === 0) {
    const hasImages = entries.some((e) => e.kind === 'file' && isImageFileName(e.name));
    throw new DataFolderError(
      hasImages
        ? `${parent} holds images but no class folders: put each class in its own sub-folder (root/<class>/*)`
        : `no images at all in ${parent}: expected root/<class>/* or root/{train,val}/<class>/*`,
      parent,
    );
  }
  const result = new Map<string, string[]>();
  for (const dir of classDirs) {
    const images: string[] = [];
    await walkClassFolder(dir.path, images, skipped, new Set());
    if (images.length === 0) {
      throw new DataFolderError(`empty class folder: ${dir.path} has no images (${[...IMAGE_EXTENSIONS].join(' ')})`, dir.path);
    }
    result.set(dir.name, images.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  return result;
}

/** Depth-first walk; `visited` holds real paths of the directories on this class's walk. */
async function walkClassFolder(dir: string, images: string[], skipped: SkippedFile[], visited: Set<string>): Promise<void> {
  let real: string;
  try {
    real = await fs.realpath(dir);
  } catch {
    skipped.push({ path: dir, reason: 'unreadable folder' });
    return;
  }
  if (visited.has(real)) {
    skipped.push({ path: dir, reason: `symlink loop or repeated folder (already visited ${real})` });
    return;
  }
  visited.add(real);
  let entries: Entry[];
  try {
    entries = await listVisible(dir);
  } catch (error) {
    skipped.push({ path: dir, reason: `unreadable folder: ${(error as Error).message}` });
    return;
  }
  for (const entry of entries) {
    if (entry.kind === 'dir') await walkClassFolder(entry.path, images, skipped, visited);
    else if (entry.kind === 'broken-link') skipped.push({ path: entry.path, reason: 'broken symlink or symlink loop' });
    else if (entry.kind === 'other') skipped.push({ path: entry.path, reason: 'not a regular file' });
    else if (isImageFileName(entry.name)) images.push(entry.path);
    else skipped.push({ path: entry.path, reason: UNSUPPORTED_EXTENSION });
  }
}

/** FNV-1a over UTF-16 code units: a stable 32-bit number for a class name. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function requireTwoClasses(classes: string[], folder: string): void {
  if (classes.length < 2) {
    throw new DataFolderError(
      `only one class folder (${classes[0]}) in ${folder}: classification needs at least two classes`,
      folder,
    );
  }
}
