/**
 * One training run: backbone + new head, a policy, an image folder. The loop is its phases only —
 * start (prepare, resume, announce), before training (AdaBN), epochs (steps, evaluation,
 * checkpoint), finish (PreciseBN, last checkpoint, summary) — and emits typed RunEvents; the CLI
 * progress bar, the metrics file and the dashboard stream are listeners, not code paths in here.
 */
import fs from 'node:fs';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { formatBackboneSetup } from '../backbones/setup.ts';
import type { BnlabConfig } from '../config.ts';
import type { DecodedImageCache } from '../data/dataset.ts';
import { selectBackend } from '../engine/backend.ts';
import { RUN_FILES } from '../runs/files.ts';
import type { CheckpointMeta } from '../schema/checkpoint.ts';
import type { PreprocessingSummary, RunEvent, RunListener, RunSummary } from '../schema/events.ts';
import { policyName, splitPreciseBn } from '../schema/policy-names.ts';
import type { Recipe } from '../schema/recipe.ts';
import { bnEpsilons, driftAll, snapshotBn, type BnState } from '../stats/drift.ts';
import { recalibrateBatchNorm } from '../stats/population.ts';
import { planBatches, type BatchPlan } from './batch-guard.ts';
import { loadCheckpoint, restoreOptimizerScalars } from './checkpoint.ts';
import { evaluate } from './evaluate.ts';
import { imageTensors, prepareExperiment, type Experiment } from './experiment.ts';
import { CheckpointSaver } from './listeners/checkpoint-saver.ts';
import { MetricsFile } from './listeners/metrics-file.ts';
import { createOptimizer, learningRateAt, setLearningRate } from './optimizer.ts';
import { applyPolicy, makeTrainable, type AppliedPolicy, type TrainableModel } from './prepare.ts';
import { acquireRunLock } from './run-lock.ts';
import { detectConvergence } from './convergence.ts';
import { EarlyStopping, ReduceOnPlateau } from './plateau.ts';
import { describePreprocessing, preprocessingSummary } from '../data/preprocessing-summary.ts';
import { prepareTrainingSource, recalibrateOnce, type TrainingSource } from './frozen-prefix.ts';

export interface RunOptions {
  runId: string;
  config: BnlabConfig;
  onEvent: RunListener;
  signal?: AbortSignal;
  resume?: boolean;
  backend?: string | null;
  /** checkpoint folder; default `<config.checkpointsDir>/<runId>` */
  outDir?: string;
  /** decoded images shared between runs of one comparison */
  cache?: DecodedImageCache;
}

export class TrainingStoppedError extends Error {}

/** Everything the phases of one run share. */
interface RunState {
  recipe: Recipe;
  runId: string;
  outDir: string;
  backend: string;
  signal?: AbortSignal;
  emit: (event: RunEvent) => void;
  log: (level: 'info' | 'warn' | 'error', message: string, code?: string) => void;
  experiment: Experiment;
  trainable: TrainableModel;
  policy: AppliedPolicy;
  optimizer: tf.Optimizer;
  saver: CheckpointSaver;
  /** where batches come from: the frozen prefix's cached outputs, or images (frozen-prefix.ts); set after AdaBN */
  source: TrainingSource | null;
  batches: BatchPlan;
  stepsPerEpoch: number;
  reference: Map<string, BnState>;
  epsilons: Map<string, number>;
  firstEpoch: number;
  step: number;
  /** per-epoch losses for the convergence flag (convergence.ts), resumed runs included */
  epochTrainLoss: number[];
  epochValLoss: number[];
  /** opt-in plateau handling (plateau.ts) */
  stopper: EarlyStopping | null;
  plateau: ReduceOnPlateau | null;
  stoppedEarly: { epoch: number; reason: string } | null;
  /** the last epoch trained: recipe.epochs - 1, or earlier when early stopping ended the run */
  lastEpoch: number;
  preprocessing: PreprocessingSummary;
  /** per val image of the last evaluation: '1' right, '0' wrong, '-' not scored */
  valCorrect: string;
  last: { loss: number; accuracy: number; valLoss: number; valAccuracy: number; valTrainMode: number | null };
}

export async function runTraining(asked: Recipe, opts: RunOptions): Promise<RunSummary> {
  // `<policy>+precise-bn` (schema/policy-names.ts) is <policy> with PreciseBN after training
  const variant = typeof asked.policy === 'string' ? splitPreciseBn(asked.policy) : null;
  const recipe: Recipe = variant?.preciseBn ? { ...asked, preciseBn: true } : asked;
  const started = Date.now();
  const { runId } = opts;
  const outDir = opts.outDir ?? path.join(opts.config.checkpointsDir, runId);
  const lock = acquireRunLock(outDir, runId);
  const metrics = new MetricsFile(outDir, !opts.resume || !fs.existsSync(path.join(outDir, RUN_FILES.model)));
  const emit = (event: RunEvent) => {
    metrics.write(event);
    opts.onEvent(event);
  };
  try {
    const run = await startRun(recipe, opts, outDir, metrics, emit);
    await beforeTraining(run);
    run.source = await prepareSource(run);
    for (let epoch = run.firstEpoch; epoch < recipe.epochs && !run.stoppedEarly; epoch++) await trainEpoch(run, epoch);
    const summary = await finishRun(run, started);
    emit({ type: 'runFinished', runId, status: 'completed', summary });
    return summary;
  } catch (error) {
    const stopped = error instanceof TrainingStoppedError;
    emit({ type: 'runFinished', runId, status: stopped ? 'stopped' : 'failed', summary: null, error: (error as Error).message });
    throw error;
  } finally {
    lock.release();
  }
}

/** Backend, data, model and policy; resume from the folder's checkpoint if asked; runStarted. */
async function startRun(recipe: Recipe, opts: RunOptions, outDir: string, metrics: MetricsFile, emit: RunState['emit']): Promise<RunState> {
  const { runId } = opts;
  const log: RunState['log'] = (level, message, code) => emit({ type: 'log', runId, level, message, code });
  const backend = await selectBackend(opts.backend ?? opts.config.backend);
  const experiment = await prepareExperiment(recipe, opts.config, opts.cache);
  const { model, split } = experiment;
  experiment.warnings.forEach((w) => log('warn', w, 'lint'));

  const trainable = makeTrainable(model, experiment.headLayerNames);
  const policy = applyPolicy(trainable, recipe.policy, recipe.bnMomentum);
  const reference = snapshotBn(model);
  const epsilons = bnEpsilons(model);

  const batches = planBatches(model, policy.summary.bnTrainMode, split.train.length, recipe.batchSize, { allowTinyBatch: recipe.allowTinyBatch });
  batches.warnings.forEach((w) => log('warn', w, 'batch'));
  const stepsPerEpoch = Math.min(batches.fullBatches, recipe.maxStepsPerEpoch ?? Infinity);

  const optimizer = createOptimizer(recipe.optimizer);
  const run: RunState = {
    recipe, runId, outDir, backend, signal: opts.signal, emit, log, experiment, trainable, policy, optimizer,
    saver: new CheckpointSaver(outDir, model, optimizer, emit),
    source: null,
    batches, stepsPerEpoch, reference, epsilons, firstEpoch: 0, step: 0,
    epochTrainLoss: [], epochValLoss: [],
    stopper: recipe.earlyStopping ? new EarlyStopping(recipe.earlyStopping) : null,
    plateau: recipe.reduceOnPlateau ? new ReduceOnPlateau(recipe.reduceOnPlateau) : null,
    stoppedEarly: null, lastEpoch: recipe.epochs - 1,
    preprocessing: preprocessingSummary(recipe.resize, experiment.preprocessing, experiment.inputSize),
    valCorrect: '',
    last: { loss: NaN, accuracy: NaN, valLoss: NaN, valAccuracy: NaN, valTrainMode: null },
  };
  if (opts.resume) {
    const resumed = await resumeFrom(outDir, model, optimizer, recipe);
    if (resumed) {
      run.firstEpoch = resumed.epoch + 1;
      run.step = resumed.step;
      metrics.truncateTo(run.step);
      for (const e of metrics.epochLosses()) {
        run.epochTrainLoss.push(e.train);
        run.epochValLoss.push(e.val);
      }
      log('info', `resumed from checkpoint at epoch ${resumed.epoch + 1}, step ${run.step}`, 'resume');
    }
  }

  emit({
    type: 'runStarted',
    runId,
    time: new Date().toISOString(),
    recipe,
    backend,
    backbone: { name: experiment.backbone.name, inputSize: experiment.inputSize, bnLayers: trainable.bn.names, preprocessing: experiment.preprocessing, cutLayer: experiment.setup.cutLayer },
    classes: split.classes,
    trainCount: split.train.length,
    valCount: split.val.length,
    stepsPerEpoch,
    totalSteps: stepsPerEpoch * recipe.epochs,
    policy: policy.summary,
    preprocessing: run.preprocessing,
  });
  log('info', describePreprocessing(run.preprocessing), 'preprocessing');
  log('info', formatBackboneSetup(experiment.setup), 'backbone-setup'); // what is used, before the first step
  if (split.skipped.length) log('warn', `${split.skipped.length} file(s) skipped while scanning`, 'skipped');
  return run;
}

/** AdaBN: recompute the population statistics before the first step; the reference drift snapshot. */
async function beforeTraining(run: RunState) {
  if (run.firstEpoch > 0) return;
  if (run.policy.plan.recalibrateBeforeTraining) {
    run.log('info', 'recomputing BN population statistics on the training data (AdaBN / PreciseBN)');
    const { reused } = await recalibrateOnce(run.experiment.model, run.experiment.trainEval, run.recipe.batchSize);
    if (reused) run.log('info', 'the same recalibration was computed by an earlier run of this process: its statistics were written again', 'recalibration-reused');
  }
  emitDrift(run, 0, new Map());
}

/** Frozen work once: the frozen prefix's outputs cached per image, or at least kept off the tape (frozen-prefix.ts). */
async function prepareSource(run: RunState): Promise<TrainingSource> {
  const { experiment, recipe } = run;
  const source = await prepareTrainingSource({
    model: experiment.model, bn: run.trainable.bn, train: experiment.train, augment: recipe.augment,
    inputSize: experiment.inputSize, numClasses: experiment.split.classes.length, batchSize: recipe.batchSize,
  });
  if (source.note) run.log('info', source.note, 'frozen-prefix');
  return source;
}

function emitDrift(run: RunState, epoch: number, batchMeans: Map<string, Float32Array>) {
  const layers = driftAll(snapshotBn(run.experiment.model), run.reference, run.epsilons, batchMeans);
  run.emit({ type: 'bnStats', runId: run.runId, step: run.step, epoch, layers });
}

/** The run's metadata as a checkpoint of the current step. */
function checkpointMeta(run: RunState, epoch: number, completed: boolean): CheckpointMeta {
  const { experiment } = run;
  return {
    format: 'bnlab-checkpoint@1',
    runId: run.runId,
    recipe: run.recipe,
    classes: experiment.split.classes,
    preprocessing: experiment.preprocessing,
    inputSize: experiment.inputSize,
    cutLayer: experiment.setup.cutLayer,
    epoch,
    step: run.step,
    completed,
    backend: run.backend,
    time: new Date().toISOString(),
  };
}

/** Steps over the shuffled training batches, then evaluation (inference- and train-mode BN) and a checkpoint. */
async function trainEpoch(run: RunState, epoch: number) {
  const { recipe, experiment, trainable, policy, optimizer } = run;
  const source = run.source!;
  const { model, split } = experiment;
  const { bn } = trainable;
  const scheduledLr = learningRateAt(recipe.optimizer, epoch, recipe.epochs);
  const lr = run.plateau ? run.plateau.lr(scheduledLr) : scheduledLr;
  setLearningRate(optimizer, lr);
  let lossSum = 0;
  let correct = 0;
  let seen = 0;
  let epochStep = 0;
  for await (const batch of source.batches({ batchSize: recipe.batchSize, shuffle: true, seed: recipe.seed, epoch })) {
    if (epochStep >= run.stepsPerEpoch) break;
    if (batch.count < recipe.batchSize && batch.count < run.batches.minTrainBatch) continue; // announced by planBatches
    if (run.signal?.aborted) throw new TrainingStoppedError('stopped by request');
    const capture = (run.step + 1) % recipe.logEvery === 0;
    bn.setCapture(capture);
    const t0 = performance.now();
    const result = await source.step(optimizer, policy.variables, batch, { capture });
    const [clippedLoss, hits, outputSum] = await result.data();
    // the loss clips probabilities, which can hide NaN outputs (wasm clamps NaN to the bound)
    const loss = Number.isFinite(outputSum) ? clippedLoss : outputSum;
    result.dispose();
    const msPerImage = (performance.now() - t0) / batch.count;
    run.step++;
    epochStep++;
    if (!Number.isFinite(loss)) {
      throw new Error(
        `loss became ${loss} at step ${run.step} (epoch ${epoch + 1}, learning rate ${lr}): training diverged. ` +
          `${run.saver.lastGood(epoch)} Lower optimizer.lr and start again.`,
      );
    }
    lossSum += loss * batch.count;
    correct += hits;
    seen += batch.count;
    run.emit({ type: 'stepEnd', runId: run.runId, step: run.step, epoch, loss, accuracy: hits / batch.count, lr, msPerImage });
    if (capture) emitDrift(run, epoch, await bn.takeBatchMeans());
  }
  bn.setCapture(false);
  if (seen === 0) {
    const skipped = experiment.train.skipped;
    throw new Error(`none of the ${split.train.length} training images could be decoded${skipped.length ? ` (e.g. ${skipped[0].path}: ${skipped[0].reason})` : ''}; check the data folder`);
  }
  const val = await source.evaluate(experiment.val, recipe.batchSize);
  const trainModeEval = policy.summary.bnTrainMode.length
    ? await bn.withBatchStatistics(() => evaluate(model, experiment.val, recipe.batchSize, { minBatch: 2, shuffle: true }))
    : null;
  // null, not NaN, when no val batch had the 2+ images batch statistics need (batch size 1)
  const valTrainMode = trainModeEval && trainModeEval.count > 0 ? trainModeEval.accuracy : null;
  run.last = { loss: lossSum / seen, accuracy: correct / seen, valLoss: val.loss, valAccuracy: val.accuracy, valTrainMode };
  run.valCorrect = val.correct;
  run.epochTrainLoss.push(run.last.loss);
  run.epochValLoss.push(val.loss);
  run.emit({ type: 'epochEnd', runId: run.runId, epoch, step: run.step, train: { loss: run.last.loss, accuracy: run.last.accuracy }, val: { loss: val.loss, accuracy: val.accuracy }, valTrainModeAccuracy: valTrainMode });
  await run.saver.onEpochEnd(checkpointMeta(run, epoch, false));
  const plateauMessage = run.plateau?.update(epoch, val.loss, scheduledLr);
  if (plateauMessage) run.log('info', plateauMessage, 'reduce-on-plateau');
  const stopReason = run.stopper?.update(epoch, val.loss);
  if (stopReason && epoch < recipe.epochs - 1) {
    run.stoppedEarly = { epoch, reason: stopReason };
    run.lastEpoch = epoch;
    run.log('info', stopReason, 'early-stopping');
  }
}

/** PreciseBN if asked, the completed checkpoint, the summary. */
async function finishRun(run: RunState, started: number): Promise<RunSummary> {
  const { recipe, experiment } = run;
  const { model, split } = experiment;
  const convergence = detectConvergence(run.epochTrainLoss, run.epochValLoss);
  if (convergence.converged === false) run.log('warn', convergence.reason, 'not-converged');
  if (recipe.preciseBn) {
    run.log('info', 'precise BN: recomputing BN population statistics on the training data after training');
    await recalibrateBatchNorm(model, () => imageTensors(experiment.trainEval, recipe.batchSize));
    const val = await evaluate(model, experiment.val, recipe.batchSize);
    run.last = { ...run.last, valLoss: val.loss, valAccuracy: val.accuracy };
    run.valCorrect = val.correct;
    emitDrift(run, run.lastEpoch, new Map());
  } else if (run.step % recipe.logEvery !== 0) {
    emitDrift(run, run.lastEpoch, new Map());
  }
  await run.saver.onRunEnd(checkpointMeta(run, run.lastEpoch, true));

  const summary: RunSummary = {
    runId: run.runId,
    policy: policyName(recipe.policy),
    valAccuracy: run.last.valAccuracy,
    valLoss: run.last.valLoss,
    valTrainModeAccuracy: run.last.valTrainMode,
    seconds: (Date.now() - started) / 1000,
    steps: run.step,
    totalMeanShift: driftAll(snapshotBn(model), run.reference, run.epsilons).reduce((sum, layer) => sum + layer.meanShift, 0),
    skippedFiles: [...split.skipped, ...experiment.train.skipped, ...experiment.val.skipped],
    checkpointDir: run.outDir,
    seed: recipe.seed,
    dataSeed: recipe.dataSeed ?? recipe.seed,
    valCorrect: run.valCorrect,
    epochs: run.lastEpoch + 1,
    stoppedEarly: run.stoppedEarly,
    convergence,
    preprocessing: run.preprocessing,
  };
  run.optimizer.dispose();
  model.dispose();
  return summary;
}

async function resumeFrom(outDir: string, model: tf.LayersModel, optimizer: tf.Optimizer, recipe: Recipe) {
  if (!fs.existsSync(path.join(outDir, RUN_FILES.model))) return null;
  const checkpoint = await loadCheckpoint(outDir);
  if (JSON.stringify(checkpoint.meta.recipe) !== JSON.stringify(recipe)) {
    throw new Error(`cannot resume ${outDir}: its recipe differs from this run's (resume with the same recipe, or use a new --out)`);
  }
  model.setWeights(checkpoint.model.getWeights());
  checkpoint.model.dispose();
  if (checkpoint.optimizerState) await optimizer.setWeights(checkpoint.optimizerState);
  restoreOptimizerScalars(optimizer, checkpoint.optimizerScalars);
  return checkpoint.meta;
}
