/**
 * Every image file under a folder, for unlabelled data (test-time adaptation targets): walked
 * recursively, class sub-folders allowed but not needed, hidden entries ignored, sorted by path
 * (code-unit order, like scan.ts). Only names are checked; decoding is decided later (decode.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { DataFolderError, IMAGE_EXTENSIONS, isImageFileName } from './scan.ts';

export async function listImageFiles(folder: string): Promise<string[]> {
  const root = path.resolve(folder);
  let stat;
  try {
    stat = await fs.stat(root);
  } catch {
    throw new DataFolderError(`folder not found: ${root}`, root);
  }
  if (!stat.isDirectory()) throw new DataFolderError(`not a directory: ${root}`, root);
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile() && isImageFileName(e.name))
    .map((e) => path.join(e.parentPath, e.name))
    .filter((file) => !path.relative(root, file).split(path.sep).some((part) => part.startsWith('.')))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (files.length === 0) throw new DataFolderError(`no images in ${root} (looked for ${[...IMAGE_EXTENSIONS].join(' ')}, in sub-folders too)`, root);
  return files;
}
