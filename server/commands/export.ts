/**
 * `export`: a classifier folder (checkpoint, `recalibrate` output, Teachable Machine export) as a
 * plain tfjs layers model, no training state: model.json + weights.bin, labels.json (labels,
 * preprocessing, input size), backbone.json (so `bnlab train --backbone <export>` needs no flags)
 * and, when the preprocessing is [-1, 1] (the only scaling the library applies), a Teachable
 * Machine metadata.json, so `@teachablemachine/image` loads the folder as one of its own.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadDescribedModel, LABELS_FILE, type ModelDescriptionMeta } from '../backbones/model-description.ts';
import { SIDECAR_FILE } from '../backbones/registry.ts';
import { TEACHABLE_METADATA_FILE, teachableMetadataFor } from '../backbones/teachable-machine.ts';
import { writeFileAtomic } from '../runs/atomic-write.ts';
import { writeLayersModel } from '../train/checkpoint.ts';

export interface ExportResult {
  outDir: string;
  /** metadata.json for @teachablemachine/image was written */
  teachableMachine: boolean;
  /** why it was not, when it was not */
  note: string | null;
}

export async function exportCheckpoint(checkpointDir: string, outDir: string, { force = false }: { force?: boolean } = {}): Promise<ExportResult> {
  await requireExportTarget(outDir, force);
  const { model, description } = await loadDescribedModel(checkpointDir);
  const { classes, preprocessing, inputSize, cutLayer } = description;
  const bnlab: ModelDescriptionMeta = { format: 'bnlab-export@1', classes, preprocessing, inputSize, ...(cutLayer ? { cutLayer } : {}), exportedFrom: path.resolve(checkpointDir) };
  await writeLayersModel(outDir, model, 'weights.bin', { bnlab, labels: classes, preprocessing, inputSize });
  model.dispose();
  await writeFileAtomic(path.join(outDir, LABELS_FILE), JSON.stringify({ labels: classes, preprocessing, inputSize }, null, 2));
  await writeFileAtomic(path.join(outDir, SIDECAR_FILE), JSON.stringify({ inputSize, preprocessing, ...(cutLayer ? { cutLayer } : {}) }, null, 2));
  if (preprocessing !== 'minus1to1') {
    return { outDir, teachableMachine: false, note: `no ${TEACHABLE_METADATA_FILE}: @teachablemachine/image scales pixels to [-1, 1], this model expects ${JSON.stringify(preprocessing)}` };
  }
  const metadata = teachableMetadataFor(classes, inputSize, description.teachable, { preprocessing, exportedFrom: path.resolve(checkpointDir) });
  await writeFileAtomic(path.join(outDir, TEACHABLE_METADATA_FILE), JSON.stringify(metadata, null, 2));
  return { outDir, teachableMachine: true, note: null };
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
  if (!names.includes('model.json') || !names.includes(LABELS_FILE)) return false;
  try {
    const labels = JSON.parse(await fs.readFile(path.join(dir, LABELS_FILE), 'utf8')) as { labels?: unknown };
    return Array.isArray(labels?.labels);
  } catch {
    return false;
  }
}
