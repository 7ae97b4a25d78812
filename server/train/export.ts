/**
 * `export`: a classifier folder (checkpoint, `recalibrate` output, Teachable Machine export) as a
 * plain tfjs layers model, no training state: model.json + weights.bin, labels.json (labels,
 * preprocessing, input size), backbone.json (so `bnlab train --backbone <export>` needs no flags)
 * and, when the preprocessing is [-1, 1] (the only scaling the library applies), a Teachable
 * Machine metadata.json, so `@teachablemachine/image` loads the folder as one of its own.
 */
import path from 'node:path';
import { loadDescribedModel, LABELS_FILE, type ModelDescriptionMeta } from '../backbones/model-description.ts';
import { SIDECAR_FILE } from '../backbones/registry.ts';
import { TEACHABLE_METADATA_FILE, teachableMetadataFor } from '../backbones/teachable-machine.ts';
import { writeLayersModel } from './checkpoint.ts';
import { writeFileAtomic } from './atomic-write.ts';

export interface ExportResult {
  outDir: string;
  /** metadata.json for @teachablemachine/image was written */
  teachableMachine: boolean;
  /** why it was not, when it was not */
  note: string | null;
}

export async function exportCheckpoint(checkpointDir: string, outDir: string): Promise<ExportResult> {
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
