/** `export`: a checkpoint as a plain tfjs layers model plus its labels and preprocessing, no training state. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadCheckpoint, writeLayersModel } from '../train/checkpoint.ts';
import { writeFileAtomic } from '../runs/atomic-write.ts';

export const EXPORT_LABELS_FILE = 'labels.json';

export async function exportCheckpoint(checkpointDir: string, outDir: string, { force = false }: { force?: boolean } = {}): Promise<string> {
  await requireExportTarget(outDir, force);
  const { model, meta, optimizerState } = await loadCheckpoint(checkpointDir);
  optimizerState?.forEach((t) => t.tensor.dispose());
  await writeLayersModel(outDir, model, 'weights.bin', { labels: meta.classes, preprocessing: meta.preprocessing, inputSize: meta.inputSize });
  await writeFileAtomic(path.join(outDir, EXPORT_LABELS_FILE), JSON.stringify({ labels: meta.classes, preprocessing: meta.preprocessing, inputSize: meta.inputSize }, null, 2));
  model.dispose();
  return outDir;
}

/**
 * The folder an export may write into: missing, empty, or an earlier bnlab export (model.json
 * beside a labels.json with a labels list). Anything else (a data folder, a checkpoint, a project)
 * would have its model.json/weights.bin overwritten silently, so it needs `force`.
 */
async function requireExportTarget(outDir: string, force: boolean): Promise<void> {
  let names: string[];
  try {
    names = (await fs.readdir(outDir)).filter((n) => !n.startsWith('.'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new Error(`--out ${outDir} is a file, not a folder`);
    throw new Error(`cannot read --out ${outDir}: ${(error as Error).message}`);
  }
  if (names.length === 0 || force || (await isBnlabExport(outDir, names))) return;
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, … (${names.length} entries)` : '');
  throw new Error(`--out ${outDir} is not empty (${shown}) and is not a bnlab export: refusing to overwrite its files. Choose an empty or new folder, or pass --force to write there anyway`);
}

async function isBnlabExport(dir: string, names: string[]): Promise<boolean> {
  if (!names.includes('model.json') || !names.includes(EXPORT_LABELS_FILE)) return false;
  try {
    const labels = JSON.parse(await fs.readFile(path.join(dir, EXPORT_LABELS_FILE), 'utf8')) as { labels?: unknown };
    return Array.isArray(labels?.labels);
  } catch {
    return false;
  }
}
