/** `export`: a checkpoint as a plain tfjs layers model plus its labels and preprocessing, no training state. */
import path from 'node:path';
import { loadCheckpoint, writeLayersModel } from '../train/checkpoint.ts';
import { writeFileAtomic } from '../runs/atomic-write.ts';

export async function exportCheckpoint(checkpointDir: string, outDir: string): Promise<string> {
  const { model, meta, optimizerState } = await loadCheckpoint(checkpointDir);
  optimizerState?.forEach((t) => t.tensor.dispose());
  await writeLayersModel(outDir, model, 'weights.bin', { labels: meta.classes, preprocessing: meta.preprocessing, inputSize: meta.inputSize });
  await writeFileAtomic(path.join(outDir, 'labels.json'), JSON.stringify({ labels: meta.classes, preprocessing: meta.preprocessing, inputSize: meta.inputSize }, null, 2));
  model.dispose();
  return outDir;
}
