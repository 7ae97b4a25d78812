/**
 * Find image datasets under the configured data roots for the dashboard's data picker. A dataset is
 * a folder laid out as `root/<class>/*` or `root/{train,val}/<class>/*` with image files in the
 * class folders. The walk is bounded (depth, folders visited, files counted), never follows a
 * symlink out of the roots, and visits each real folder once (symlink loops end).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { BnlabConfig } from '../config.ts';
import { DataFolderError, isImageFileName, scanImageFolder } from '../data/scan.ts';
import type { DataFolder, DataListing } from '../schema/api.ts';
import type { Recipe } from '../schema/recipe.ts';
import { isInside, realRoots } from './safe-path.ts';


const MAX_DEPTH = 3;
const MAX_FOLDERS_VISITED = 2000;
const MAX_DATASETS = 200;

interface WalkBudget {
  visited: Set<string>;
  foldersLeft: number;
  truncated: boolean;
}

/**
 * List datasets below `folder` (a real path already checked to be inside a root) or below every
 * root when `folder` is null. `demoDir` is reported separately: it may not have been generated yet.
 */
export async function listDataFolders(roots: string[], folder: string | null, demoDir: string): Promise<DataListing> {
  const allowed = await realRoots(roots);
  const budget: WalkBudget = { visited: new Set(), foldersLeft: MAX_FOLDERS_VISITED, truncated: false };
  const datasets: DataFolder[] = [];
  const starts = folder ? [folder] : allowed;
  for (const start of starts) {
    const root = allowed.find((r) => isInside(start, r));
    if (!root) continue;
    await walk(start, root, allowed, 0, budget, datasets);
  }
  let subfolders: string[] = [];
  if (folder) {
    const entries = await safeSubfolders(folder, allowed);
    subfolders = entries.filter((sub) => !datasets.some((d) => d.path === sub));
  }
  datasets.sort((a, b) => a.path.localeCompare(b.path));
  const demoReady = (await describeDataset(demoDir, demoDir, [demoDir]).catch(() => null)) !== null;
  return { roots: allowed, folder, datasets, subfolders, truncated: budget.truncated, demo: { path: demoDir, ready: demoReady } };
}

async function walk(
  dir: string,
  root: string,
  allowed: string[],
  depth: number,
  budget: WalkBudget,
  out: DataFolder[],
): Promise<void> {
  if (budget.visited.has(dir)) return;
  if (budget.foldersLeft <= 0 || out.length >= MAX_DATASETS) {
    budget.truncated = true;
    return;
  }
  budget.visited.add(dir);
  budget.foldersLeft -= 1;
  const dataset = await describeDataset(dir, root, allowed);
  if (dataset) {
    out.push(dataset);
    return;
  }
  if (depth >= MAX_DEPTH) return;
  for (const sub of await safeSubfolders(dir, allowed)) {
    await walk(sub, root, allowed, depth + 1, budget, out);
  }
}

/** Real paths of the sub-folders of `dir` that stay inside the roots (hidden folders skipped). */
async function safeSubfolders(dir: string, allowed: string[]): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
    try {
      const real = await fs.realpath(path.join(dir, entry.name));
      const stat = await fs.stat(real);
      if (stat.isDirectory() && allowed.some((r) => isInside(real, r))) out.push(real);
    } catch {
      // dangling link or unreadable: not offered
    }
  }
  return out.sort();
}

async function countImages(dir: string): Promise<number> {
  try {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    return entries.filter((e) => !e.isDirectory() && isImageFileName(e.name))
      .length;
  } catch {
    return 0;
  }
}

/** Class folders (with at least one image) directly inside `dir`, and their image total. */
async function classFolders(dir: string, allowed: string[]): Promise<{ classes: string[]; images: number }> {
  const classes: string[] = [];
  let images = 0;
  for (const sub of await safeSubfolders(dir, allowed)) {
    const count = await countImages(sub);
    if (count > 0) {
      classes.push(path.basename(sub));
      images += count;
    }
  }
  return { classes, images };
}

async function describeDataset(dir: string, root: string, allowed: string[]): Promise<DataFolder | null> {
  const subs = (await safeSubfolders(dir, allowed)).map((s) => path.basename(s));
  const base = { path: dir, root, relative: path.relative(root, dir) || '.' };
  if (subs.includes('train') && subs.includes('val')) {
    const train = await classFolders(path.join(dir, 'train'), allowed);
    const val = await classFolders(path.join(dir, 'val'), allowed);
    if (train.classes.length > 0) {
      return { ...base, layout: 'train-val', classes: train.classes, imageCount: train.images + val.images, ...trainability(train.classes) };
    }
  }
  const flat = await classFolders(dir, allowed);
  if (flat.classes.length > 0) return { ...base, layout: 'class-folders', classes: flat.classes, imageCount: flat.images, ...trainability(flat.classes) };
  return null;
}

/** What the picker shows before a run is queued: a folder with one class cannot train a classifier. */
function trainability(classes: string[]): Pick<DataFolder, 'trainable' | 'problem'> {
  if (classes.length >= 2) return { trainable: true, problem: null };
  return { trainable: false, problem: `only one class folder (${classes[0]}): a classifier needs at least two` };
}

/**
 * Why a run on `data` (a real path inside the roots) would fail at its data scan, or null: the same
 * scan the run does (scan.ts), so the form gets a field error at submit instead of a failed run
 * after queueing. The demo folder is skipped: it is generated on first use and always valid.
 */
export async function dataFolderProblem(data: string, recipe: Pick<Recipe, 'valFraction' | 'seed'>, config: BnlabConfig): Promise<string | null> {
  if (isInside(data, config.demoDataDir)) return null;
  try {
    await scanImageFolder(data, { valFraction: recipe.valFraction, seed: recipe.seed, roots: config.dataRoots });
    return null;
  } catch (error) {
    if (error instanceof DataFolderError) return error.message;
    throw error;
  }
}
