/**
 * Scan a user's image folder into labelled train/val lists, torchvision `ImageFolder` style:
 * class index = position of the class folder's name in sorted (code unit) order.
 *
 * Layouts:
 *   'train-val':     root/train/<class>/... and root/val/<class>/... (the class lists must be equal)
 *   'class-folders': root/<class>/...; a stratified split per class with a seeded shuffle: each class with
 *            n >= 2 images gives round(n * valFraction) images to val, clamped to [1, n - 1]; a class
 *            with one image keeps it in train (and the scan warns).
 *
 * Class folders are walked recursively (as ImageFolder does) following symlinks, with three rules
 * that keep every label honest (each refusal is listed in `skipped` with its reason):
 *   - a symlink (to a folder or a file) must stay inside the data folder or one of `roots` (the
 *     configured data roots): bnlab never reads a file a link smuggles in from elsewhere;
 *   - a folder whose real path was already visited, or that contains the class folder being walked
 *     (`ants/loop -> ..`), is a loop and is not entered;
 *   - a file is read once, under one label and in one split: files are deduplicated by real path,
 *     the copy reached without a symlink wins (else the first in class order, train before val).
 * Hidden entries (dot-files, dot-folders such as .ipynb_checkpoints) are ignored silently; other
 * files without an image extension are listed in `skipped`.
 * Only names are checked here: whether a file really decodes is decided later (decode.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DatasetLayout } from '../schema/recipe.ts';
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
  layout: DatasetLayout;
  classes: string[];
  train: ImageItem[];
  val: ImageItem[];
  skipped: SkippedFile[];
  /** Non-fatal findings a user should see (e.g. a class with a single image). */
  warnings: string[];
}

export interface ScanOptions {
  /** Fraction of each class that goes to val, for the 'class-folders' layout only. */
  valFraction: number;
  seed: number;
  /** Folders besides the data folder itself that symlinks may lead into (the data roots). */
  roots?: readonly string[];
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
  const walk = await walkContext(absRoot, opts.roots ?? []);

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
    const trainFound = await scanClasses(trainDir, skipped, walk);
    const valFound = await scanClasses(valDir, skipped, walk);
    const [trainClasses, valClasses] = dedupeByRealPath([trainFound, valFound], skipped);
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
      layout: 'train-val',
      classes,
      train: classes.flatMap((name, label) => trainClasses.get(name)!.map((p) => ({ path: p, label }))),
      val: classes.flatMap((name, label) => valClasses.get(name)!.map((p) => ({ path: p, label }))),
      skipped,
      warnings,
    };
  }

  for (const entry of top) if (entry.kind !== 'dir') skipped.push(notInClassFolder(entry));
  const [byClass] = dedupeByRealPath([await scanClasses(absRoot, skipped, walk)], skipped);
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
  return { root: absRoot, layout: 'class-folders', classes, train, val, skipped, warnings };
}

/** Every image below a folder, whatever its layout, with no labels. */
export interface UnlabelledImages {
  root: string;
  files: string[];
  skipped: SkippedFile[];
}

/**
 * Every image file below `root` (recursively, in sorted path order), for uses that need no labels
 * (BN recalibration): one class folder, none, or a whole train/val tree are all fine. The same
 * symlink rules as scanImageFolder apply, and each real file is listed once.
 */
export async function scanUnlabelledImages(root: string, opts: { roots?: readonly string[] } = {}): Promise<UnlabelledImages> {
  const absRoot = path.resolve(root);
  await requireDirectory(absRoot, 'data folder');
  const skipped: SkippedFile[] = [];
  const found: Found[] = [];
  await walkClassFolder(absRoot, false, found, skipped, [], await walkContext(absRoot, opts.roots ?? []));
  if (found.length === 0) {
    throw new DataFolderError(`no images at all in ${absRoot} (${[...IMAGE_EXTENSIONS].join(' ')})`, absRoot);
  }
  found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const [byGroup] = dedupeByRealPath([new Map([['(all)', found]])], skipped);
  return { root: absRoot, files: byGroup.get('(all)')!, skipped };
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
  /** the entry itself is a symbolic link */
  link: boolean;
}

/** An image file found by the walk: the path it was reached by, its real path, and whether a symlink led there. */
interface Found {
  path: string;
  real: string;
  linked: boolean;
}

/** What the walk may enter: real paths of the data folder and of the extra roots. */
interface WalkContext {
  allowed: string[];
}

export const OUTSIDE_ROOTS = 'symlink leads outside the data folder and the data roots (BNLAB_DATA_ROOTS); bnlab does not read it';

async function walkContext(absRoot: string, roots: readonly string[]): Promise<WalkContext> {
  const allowed = [await fs.realpath(absRoot)];
  for (const root of roots) {
    try {
      allowed.push(await fs.realpath(root));
    } catch {
      // a root that does not exist lets nothing in
    }
  }
  return { allowed };
}

/** True when `child` is `parent` or lies below it (both absolute, normalised). */
function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
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
    const link = dirent.isSymbolicLink();
    if (dirent.isDirectory()) kind = 'dir';
    else if (dirent.isFile()) kind = 'file';
    else if (link) {
      try {
        const target = await fs.stat(full);
        kind = target.isDirectory() ? 'dir' : target.isFile() ? 'file' : 'other';
      } catch {
        kind = 'broken-link'; // dangling, or a link cycle (ELOOP)
      }
    } else kind = 'other';
    entries.push({ name: dirent.name, path: full, kind, link });
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function notInClassFolder(entry: Entry): SkippedFile {
  return { path: entry.path, reason: entry.kind === 'broken-link' ? 'broken symlink' : 'not inside a class folder' };
}

/** Map class name -> image files in sorted path order, for every visible sub-folder of `parent`. */
async function scanClasses(parent: string, skipped: SkippedFile[], walk: WalkContext): Promise<Map<string, Found[]>> {
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
  const result = new Map<string, Found[]>();
  const parentReal = await fs.realpath(parent);
  for (const dir of classDirs) {
    const dirReal = await fs.realpath(dir.path).catch(() => dir.path);
    if (dir.link && isInside(parentReal, dirReal)) {
      // root/loop -> root (or an ancestor): not a class, a cycle
      skipped.push({ path: dir.path, reason: `symlink loop: leads back up to ${dirReal}, which holds this data folder` });
      continue;
    }
    const images: Found[] = [];
    await walkClassFolder(dir.path, dir.link, images, skipped, [], walk);
    if (images.length === 0) {
      throw new DataFolderError(`empty class folder: ${dir.path} has no images (${[...IMAGE_EXTENSIONS].join(' ')})`, dir.path);
    }
    result.set(dir.name, images.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)));
  }
  if (result.size === 0) throw new DataFolderError(`no class folders in ${parent}: its only sub-folders are symlink loops`, parent);
  return result;
}

/**
 * Depth-first walk of one class folder; `visited` holds the real paths of the folders already
 * entered for this class (the class folder first). `linked`: a symlink led to `dir`.
 */
async function walkClassFolder(dir: string, linked: boolean, images: Found[], skipped: SkippedFile[], visited: string[], walk: WalkContext): Promise<void> {
  let real: string;
  try {
    real = await fs.realpath(dir);
  } catch {
    skipped.push({ path: dir, reason: 'unreadable folder' });
    return;
  }
  if (!walk.allowed.some((root) => isInside(real, root))) {
    skipped.push({ path: dir, reason: OUTSIDE_ROOTS });
    return;
  }
  if (visited.includes(real)) {
    skipped.push({ path: dir, reason: `symlink loop or repeated folder (already visited ${real})` });
    return;
  }
  if (visited.length && isInside(visited[0], real)) {
    skipped.push({ path: dir, reason: `symlink loop: leads back up to ${real}, which holds this class folder` });
    return;
  }
  visited.push(real);
  let entries: Entry[];
  try {
    entries = await listVisible(dir);
  } catch (error) {
    skipped.push({ path: dir, reason: `unreadable folder: ${(error as Error).message}` });
    return;
  }
  for (const entry of entries) {
    if (entry.kind === 'dir') await walkClassFolder(entry.path, linked || entry.link, images, skipped, visited, walk);
    else if (entry.kind === 'broken-link') skipped.push({ path: entry.path, reason: 'broken symlink or symlink loop' });
    else if (entry.kind === 'other') skipped.push({ path: entry.path, reason: 'not a regular file' });
    else if (!isImageFileName(entry.name)) skipped.push({ path: entry.path, reason: UNSUPPORTED_EXTENSION });
    else if (!entry.link) images.push({ path: entry.path, real: path.join(real, entry.name), linked });
    else {
      let target: string;
      try {
        target = await fs.realpath(entry.path);
      } catch {
        skipped.push({ path: entry.path, reason: 'broken symlink or symlink loop' });
        continue;
      }
      if (walk.allowed.some((root) => isInside(target, root))) images.push({ path: entry.path, real: target, linked: true });
      else skipped.push({ path: entry.path, reason: OUTSIDE_ROOTS });
    }
  }
}

/**
 * Keep each real file once over all `groups` (train's classes, then val's): the copy reached
 * without a symlink wins, else the first in order; the others are listed in `skipped`. Returns
 * class name -> sorted paths per group. A class left with no file of its own is an error.
 */
function dedupeByRealPath(groups: Map<string, Found[]>[], skipped: SkippedFile[]): Map<string, string[]>[] {
  const owner = new Map<string, { path: string; className: string }>();
  const ordered = groups.flatMap((group) => [...group].flatMap(([className, files]) => files.map((file) => ({ className, file }))));
  for (const { className, file } of ordered) if (!file.linked && !owner.has(file.real)) owner.set(file.real, { path: file.path, className });
  for (const { className, file } of ordered) if (!owner.has(file.real)) owner.set(file.real, { path: file.path, className });
  return groups.map((group) => {
    const out = new Map<string, string[]>();
    for (const [className, files] of group) {
      const kept: string[] = [];
      for (const file of files) {
        const first = owner.get(file.real)!;
        if (first.path === file.path) kept.push(file.path);
        else {
          const where = first.className === className ? '' : ` (class "${first.className}")`;
          skipped.push({ path: file.path, reason: `same file as ${first.path}${where}: a file is read once, under one label` });
        }
      }
      if (kept.length === 0) {
        const folder = path.dirname(files[0].path);
        throw new DataFolderError(`class folder "${className}" (${folder}) has no images of its own: every file in it is already read under another label or split through a symlink`, folder);
      }
      out.set(className, kept);
    }
    return out;
  });
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
