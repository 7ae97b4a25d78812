/**
 * The dashboard's adapt job: test-time BN adaptation of one finished run, measured under shift.
 * For each corruption × severity: the run's val images are corrupted (`corrupt`, into a temporary
 * folder, decoded for the checkpoint's input size), the source checkpoint is evaluated on them
 * (`evaluate`), adapted on the same images without their labels (`adapt`: transductive, as in
 * Schneider et al. 2020 and TENT) and evaluated again. The per-layer drift is `adapt`'s own
 * (stats/drift.ts driftAll of the adapted BN state against the source's). Every cell starts from
 * the source checkpoint; nothing is written to the run folder, and the temporary copies are
 * removed at the end. Same numbers as `bnlab corrupt` + `evaluate` + `adapt` with the same settings.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AdaptCell, AdaptCorruptionName, AdaptProgress, AdaptReport, AdaptRequest } from '../schema/adapt-report.ts';
import type { CorruptionName } from '../data/corruptions.ts';
import { selectBackend } from '../engine/backend.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { TENT_DEFAULTS } from '../train/tent.ts';
import { adaptModel, targetDataset, type AdaptSettings } from './adapt.ts';
import { corruptFolder } from './corrupt.ts';
import { evaluateDataset, labelledEvaluationSet } from './evaluate.ts';

// The form's list (schema) and the implementations (data) name the same corruptions: a mismatch either way fails to compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const NAMES_AGREE: Same<AdaptCorruptionName, CorruptionName> = true;
void NAMES_AGREE;

export interface AdaptShiftsOptions {
  /** the source run's checkpoint folder */
  checkpointDir: string;
  request: AdaptRequest;
  backend?: string | null;
  onProgress?: (progress: AdaptProgress) => void;
  signal?: AbortSignal;
  /** where the corrupted copies go (default: a new folder under the OS temp dir, removed after) */
  workDir?: string;
}

/** The adapt settings a request means (the `adapt` command's defaults for what it leaves out). */
export function adaptSettingsOf(request: AdaptRequest): AdaptSettings {
  if (request.method === 'tent' && request.batchSize < 2) throw new Error(`batchSize ${request.batchSize}: TENT needs batches of 2 or more images`);
  return { method: request.method, prior: request.prior, steps: request.method === 'tent' ? request.steps : null, batchSize: request.batchSize, lr: TENT_DEFAULTS.lr, seed: 0, episodic: false };
}

export async function adaptAcrossShifts(opts: AdaptShiftsOptions): Promise<AdaptReport> {
  const backend = await selectBackend(opts.backend ?? null);
  const settings = adaptSettingsOf(opts.request);
  const source = await loadCheckpoint(opts.checkpointDir);
  const meta = source.meta;
  source.optimizerState?.forEach((t) => t.tensor.dispose());
  source.model.dispose();
  const work = opts.workDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'bnlab-adapt-job-')));
  const cells: AdaptCell[] = [];
  const total = opts.request.corruptions.length * opts.request.severities.length;
  const abortIfStopped = () => {
    if (opts.signal?.aborted) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error('stopped by the user');
  };
  try {
    for (const corruption of opts.request.corruptions) {
      for (const severity of opts.request.severities) {
        const started = Date.now();
        const report = (stage: AdaptProgress['stage']) => {
          abortIfStopped();
          opts.onProgress?.({ cell: cells.length + 1, cells: total, corruption, severity, stage });
        };
        report('corrupt');
        const folder = path.join(work, `${corruption}-${severity}`);
        const copy = await corruptFolder({
          data: meta.recipe.data,
          corruption,
          severity,
          out: folder,
          seed: 0,
          size: meta.inputSize,
          valFraction: meta.recipe.valFraction,
          splitSeed: meta.recipe.seed,
        });
        const { model, optimizerState } = await loadCheckpoint(opts.checkpointDir);
        optimizerState?.forEach((t) => t.tensor.dispose());
        try {
          report('evaluate-source');
          const { dataset } = await labelledEvaluationSet(folder, meta);
          const before = await evaluateDataset(model, dataset, meta.classes, settings.batchSize);
          report('adapt');
          const adapted = await adaptModel(model, await targetDataset(folder, meta), settings);
          report('evaluate-adapted');
          const after = await evaluateDataset(model, dataset, meta.classes, settings.batchSize);
          cells.push({
            corruption,
            severity,
            parameter: copy.parameter,
            parameterName: copy.parameterName,
            images: before.images,
            before: { accuracy: before.accuracy, loss: before.loss, entropy: before.entropy },
            after: { accuracy: after.accuracy, loss: after.loss, entropy: after.entropy },
            sourceWeight: adapted.sourceWeight,
            tentSteps: adapted.tentSteps,
            drift: adapted.drift,
            seconds: (Date.now() - started) / 1000,
          });
        } finally {
          model.dispose();
        }
        await fs.rm(folder, { recursive: true, force: true });
      }
    }
  } finally {
    if (!opts.workDir) await fs.rm(work, { recursive: true, force: true });
  }
  return {
    runId: meta.runId,
    checkpointDir: path.resolve(opts.checkpointDir),
    data: meta.recipe.data,
    backbone: meta.recipe.backbone,
    classes: meta.classes,
    request: opts.request,
    backend,
    cells,
  };
}
