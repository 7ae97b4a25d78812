/**
 * One training run: backbone + new head, a policy, an image folder. Emits typed RunEvents; the CLI
 * progress bar, the metrics file and the dashboard stream are listeners, not code paths in here.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BnlabConfig } from '../config.ts';
import { selectBackend } from '../engine/backend.ts';
import { useLeanTraining } from '../engine/lean-training.ts';
import { applyPlan } from '../policies/apply.ts';
import { BnController } from '../policies/bn-mode.ts';
import { describeLayers } from '../policies/plan.ts';
import { policyName, resolvePolicy } from '../policies/resolve.ts';
import type { DecodedImageCache } from '../data/dataset.ts';
import type { CheckpointMeta, PolicySummary, Recipe, RunEvent, RunListener, RunSummary } from '../schema.ts';
import { bnEpsilons, driftAll, kerasMomentum, snapshotBn } from '../stats/drift.ts';
import { recalibrateBatchNorm } from '../stats/population.ts';
import { loadCheckpoint, restoreOptimizerScalars, saveCheckpoint } from './checkpoint.ts';
import { crossEntropy, evaluate } from './evaluate.ts';
import { imageTensors, prepareExperiment, toImageTensor } from './experiment.ts';
import { createOptimizer, learningRateAt, setLearningRate } from './optimizer.ts';
import { planBatches } from './batch-guard.ts';
import { acquireRunLock } from './run-lock.ts';
import { detectConvergence } from './convergence.ts';
import { EarlyStopping, ReduceOnPlateau } from './plateau.ts';
import { describePreprocessing, preprocessingSummary } from '../data/preprocessing-summary.ts';

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

export async function runTraining(recipe: Recipe, opts: RunOptions): Promise<RunSummary> {
  const started = Date.now();
  const { runId } = opts;
  const outDir = opts.outDir ?? path.join(opts.config.checkpointsDir, runId);
  const lock = acquireRunLock(outDir, runId);
  const metricsFile = path.join(outDir, 'metrics.jsonl');
  // A fresh run (or a resume with no checkpoint yet, e.g. killed before its first one) starts an
  // empty history before its first event; a real resume trims the old one once its step is known.
  if (!opts.resume || !fs.existsSync(path.join(outDir, 'model.json'))) fs.writeFileSync(metricsFile, '');
  const emit = (event: RunEvent) => {
    fs.appendFileSync(metricsFile, `${JSON.stringify(event)}\n`);
    opts.onEvent(event);
  };
  const log = (level: 'info' | 'warn' | 'error', message: string, code?: string) => emit({ type: 'log', runId, level, message, code });

  try {
    const backend = await selectBackend(opts.backend ?? opts.config.backend);
    const experiment = await prepareExperiment(recipe, opts.config, opts.cache);
    const { model, split } = experiment;
    experiment.warnings.forEach((w) => log('warn', w, 'lint'));

    const bn = new BnController(model);
    useLeanTraining(model); // same results, less memory and time (server/engine/lean-training.ts)
    const layers = describeLayers(model, experiment.headLayerNames);
    const plan = resolvePolicy(recipe.policy, layers);
    const momentumKeras = recipe.bnMomentum ? kerasMomentum(recipe.bnMomentum) : null;
    const variables = applyPlan(model, plan, bn, momentumKeras);
    const reference = snapshotBn(model);
    const epsilons = bnEpsilons(model);

    const trainModeBn = [...plan.bnTrainMode];
    const batches = planBatches(model, trainModeBn, split.train.length, recipe.batchSize, { allowTinyBatch: recipe.allowTinyBatch });
    batches.warnings.forEach((w) => log('warn', w, 'batch'));
    const stepsPerEpoch = Math.min(batches.fullBatches, recipe.maxStepsPerEpoch ?? Infinity);
    const totalSteps = stepsPerEpoch * recipe.epochs;

    const policy: PolicySummary = {
      name: plan.name,
      description: plan.description,
      trainableLayers: [...plan.trainableLayers],
      bnTrainMode: trainModeBn,
      bnAffineTrainable: [...plan.bnAffineTrainable],
      bnMomentumKeras: momentumKeras,
    };

    const optimizer = createOptimizer(recipe.optimizer);
    let firstEpoch = 0;
    let step = 0;
    // issue 10: per-epoch train loss for the convergence flag; opt-in plateau handling
    const epochTrainLoss: number[] = [];
    const epochValLoss: number[] = [];
    const stopper = recipe.earlyStopping ? new EarlyStopping(recipe.earlyStopping) : null;
    const plateau = recipe.reduceOnPlateau ? new ReduceOnPlateau(recipe.reduceOnPlateau) : null;
    let stoppedEarly: { epoch: number; reason: string } | null = null;
    let lastEpoch = recipe.epochs - 1;
    const preprocessing = preprocessingSummary(recipe.resize, experiment.preprocessing, experiment.inputSize);
    if (opts.resume) {
      const resumed = await resumeFrom(outDir, model, optimizer, recipe);
      if (resumed) {
        firstEpoch = resumed.epoch + 1;
        step = resumed.step;
        truncateMetrics(metricsFile, step);
        for (const e of epochLossesFrom(metricsFile)) {
          epochTrainLoss.push(e.train);
          epochValLoss.push(e.val);
        }
        log('info', `resumed from checkpoint at epoch ${resumed.epoch + 1}, step ${step}`, 'resume');
      }
    }

    emit({
      type: 'runStarted',
      runId,
      time: new Date().toISOString(),
      recipe,
      backend,
      backbone: { name: experiment.backbone.name, inputSize: experiment.inputSize, bnLayers: bn.names },
      classes: split.classes,
      trainCount: split.train.length,
      valCount: split.val.length,
      stepsPerEpoch,
      totalSteps,
      policy,
      preprocessing,
    });
    log('info', describePreprocessing(preprocessing), 'preprocessing');
    if (split.skipped.length) log('warn', `${split.skipped.length} file(s) skipped while scanning`, 'skipped');

    if (plan.recalibrateBeforeTraining && firstEpoch === 0) {
      log('info', 'recomputing BN population statistics on the training data (AdaBN / PreciseBN)');
      await recalibrateBatchNorm(model, () => imageTensors(experiment.trainEval, recipe.batchSize));
    }

    const meta = (epoch: number, completed: boolean): CheckpointMeta => ({
      format: 'bnlab-checkpoint@1',
      runId,
      recipe,
      classes: split.classes,
      preprocessing: experiment.preprocessing,
      inputSize: experiment.inputSize,
      epoch,
      step,
      completed,
      backend,
      time: new Date().toISOString(),
    });

    const drift = async (epoch: number, batchMeans: Map<string, Float32Array>) => {
      emit({ type: 'bnStats', runId, step, epoch, layers: driftAll(snapshotBn(model), reference, epsilons, batchMeans) });
    };
    if (firstEpoch === 0) await drift(0, new Map());

    let last = { loss: NaN, accuracy: NaN, valLoss: NaN, valAccuracy: NaN, valTrainMode: null as number | null };
    let valCorrect = '';
    for (let epoch = firstEpoch; epoch < recipe.epochs; epoch++) {
      const scheduledLr = learningRateAt(recipe.optimizer, epoch, recipe.epochs);
      const lr = plateau ? plateau.lr(scheduledLr) : scheduledLr;
      setLearningRate(optimizer, lr);
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let epochStep = 0;
      for await (const batch of experiment.train.batches({ batchSize: recipe.batchSize, shuffle: true, seed: recipe.seed, epoch })) {
        if (epochStep >= stepsPerEpoch) break;
        if (batch.count < recipe.batchSize && batch.count < batches.minTrainBatch) continue; // announced by planBatches
        if (opts.signal?.aborted) throw new TrainingStoppedError('stopped by request');
        const capture = (step + 1) % recipe.logEvery === 0;
        bn.setCapture(capture);
        const t0 = performance.now();
        const result = trainStep(model, optimizer, variables, batch.images, batch.labels, batch.count, experiment.inputSize, split.classes.length);
        const [clippedLoss, hits, outputSum] = await result.data();
        // the loss clips probabilities, which can hide NaN outputs (wasm clamps NaN to the bound)
        const loss = Number.isFinite(outputSum) ? clippedLoss : outputSum;
        result.dispose();
        const msPerImage = (performance.now() - t0) / batch.count;
        step++;
        epochStep++;
        if (!Number.isFinite(loss)) {
          throw new Error(
            `loss became ${loss} at step ${step} (epoch ${epoch + 1}, learning rate ${lr}): training diverged. ` +
              `${lastGoodCheckpoint(epoch, outDir)} Lower optimizer.lr and start again.`,
          );
        }
        lossSum += loss * batch.count;
        correct += hits;
        seen += batch.count;
        emit({ type: 'stepEnd', runId, step, epoch, loss, accuracy: hits / batch.count, lr, msPerImage });
        if (capture) await drift(epoch, await bn.takeBatchMeans());
      }
      bn.setCapture(false);
      if (seen === 0) {
        const skipped = experiment.train.skipped;
        throw new Error(`none of the ${split.train.length} training images could be decoded${skipped.length ? ` (e.g. ${skipped[0].path}: ${skipped[0].reason})` : ''}; check the data folder`);
      }
      const val = await evaluate(model, experiment.val, recipe.batchSize);
      const trainModeEval = trainModeBn.length ? await bn.withBatchStatistics(() => evaluate(model, experiment.val, recipe.batchSize, { minBatch: 2, shuffle: true })) : null;
      // null, not NaN, when no val batch had the 2+ images batch statistics need (batch size 1)
      const valTrainMode = trainModeEval && trainModeEval.count > 0 ? trainModeEval.accuracy : null;
      last = { loss: lossSum / seen, accuracy: correct / seen, valLoss: val.loss, valAccuracy: val.accuracy, valTrainMode };
      valCorrect = val.correct;
      epochTrainLoss.push(last.loss);
      epochValLoss.push(val.loss);
      emit({ type: 'epochEnd', runId, epoch, step, train: { loss: last.loss, accuracy: last.accuracy }, val: { loss: val.loss, accuracy: val.accuracy }, valTrainModeAccuracy: valTrainMode });
      await assertFiniteWeights(model, step, epoch, outDir);
      await saveCheckpoint(outDir, model, optimizer, meta(epoch, false));
      emit({ type: 'checkpoint', runId, step, dir: outDir });
      const plateauMessage = plateau?.update(epoch, val.loss, scheduledLr);
      if (plateauMessage) log('info', plateauMessage, 'reduce-on-plateau');
      const stopReason = stopper?.update(epoch, val.loss);
      if (stopReason && epoch < recipe.epochs - 1) {
        stoppedEarly = { epoch, reason: stopReason };
        lastEpoch = epoch;
        log('info', stopReason, 'early-stopping');
        break;
      }
    }
    const convergence = detectConvergence(epochTrainLoss, epochValLoss);
    if (convergence.converged === false) log('warn', convergence.reason, 'not-converged');

    if (recipe.preciseBn) {
      log('info', 'precise BN: recomputing BN population statistics on the training data after training');
      await recalibrateBatchNorm(model, () => imageTensors(experiment.trainEval, recipe.batchSize));
      const val = await evaluate(model, experiment.val, recipe.batchSize);
      last = { ...last, valLoss: val.loss, valAccuracy: val.accuracy };
      valCorrect = val.correct;
      await drift(lastEpoch, new Map());
    } else if (step % recipe.logEvery !== 0) {
      await drift(lastEpoch, new Map());
    }
    await saveCheckpoint(outDir, model, optimizer, meta(lastEpoch, true));

    const summary: RunSummary = {
      runId,
      policy: policyName(recipe.policy),
      valAccuracy: last.valAccuracy,
      valLoss: last.valLoss,
      valTrainModeAccuracy: last.valTrainMode,
      seconds: (Date.now() - started) / 1000,
      steps: step,
      totalMeanShift: driftAll(snapshotBn(model), reference, epsilons).reduce((sum, layer) => sum + layer.meanShift, 0),
      skippedFiles: [...split.skipped, ...experiment.train.skipped, ...experiment.val.skipped],
      checkpointDir: outDir,
      seed: recipe.seed,
      dataSeed: recipe.dataSeed ?? recipe.seed,
      valCorrect,
      epochs: lastEpoch + 1,
      stoppedEarly,
      convergence,
      preprocessing,
    };
    optimizer.dispose();
    model.dispose();
    emit({ type: 'runFinished', runId, status: 'completed', summary });
    return summary;
  } catch (error) {
    const stopped = error instanceof TrainingStoppedError;
    const message = (error as Error).message;
    emit({ type: 'runFinished', runId, status: stopped ? 'stopped' : 'failed', summary: null, error: message });
    throw error;
  } finally {
    lock.release();
  }
}

/**
 * One optimizer step. Returns [loss, correct, sum of outputs] so the caller reads all with a single
 * async download; the output sum is NaN/Inf exactly when some output is. BN layers behave as their mode says (policies/bn-mode.ts).
 */
export function trainStep(
  model: tf.LayersModel,
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  images: Float32Array,
  labels: Int32Array,
  count: number,
  size: number,
  numClasses: number,
): tf.Tensor1D {
  return tf.tidy(() => {
    const x = toImageTensor(images, count, size);
    const y = tf.tensor1d(labels.subarray(0, count), 'int32');
    let hits: tf.Scalar | null = null;
    let outputSum: tf.Scalar | null = null;
    const loss = optimizer.minimize(
      () => {
        const probs = model.apply(x, { training: true }) as tf.Tensor2D;
        hits = tf.keep(probs.argMax(1).equal(y).sum().cast('float32') as tf.Scalar);
        outputSum = tf.keep(probs.sum() as tf.Scalar);
        return crossEntropy(probs, y, numClasses).mean() as tf.Scalar;
      },
      true,
      variables,
    )!;
    const out = tf.stack([loss, hits!, outputSum!]) as tf.Tensor1D;
    (hits as tf.Scalar | null)?.dispose();
    (outputSum as tf.Scalar | null)?.dispose();
    return out;
  });
}

/** After an update the loss of the *next* step shows divergence; weights are checked before they are saved. */
async function assertFiniteWeights(model: tf.LayersModel, step: number, epoch: number, outDir: string) {
  const finite = tf.tidy(() => tf.stack(model.getWeights().map((w) => tf.all(tf.isFinite(w)))).all());
  const ok = (await finite.data())[0] === 1;
  finite.dispose();
  if (!ok) throw new Error(`weights became NaN or infinite by step ${step} (epoch ${epoch + 1}): training diverged. ${lastGoodCheckpoint(epoch, outDir)} Lower optimizer.lr and start again.`);
}

function lastGoodCheckpoint(epoch: number, outDir: string): string {
  return epoch === 0 ? 'No checkpoint was written.' : `The last good checkpoint (end of epoch ${epoch}) is kept in ${outDir}.`;
}

async function resumeFrom(outDir: string, model: tf.LayersModel, optimizer: tf.Optimizer, recipe: Recipe) {
  if (!fs.existsSync(path.join(outDir, 'model.json'))) return null;
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

/** Per-epoch train losses already in a (truncated) metrics file: the convergence flag of a resumed run sees every epoch. */
function epochLossesFrom(file: string): { train: number; val: number }[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as RunEvent)
    .flatMap((event) => (event.type === 'epochEnd' ? [{ train: event.train.loss, val: event.val.loss }] : []));
}

/** Keep only events up to the checkpoint's step, so a resumed run's history has no duplicates. */
function truncateMetrics(file: string, step: number) {
  if (!fs.existsSync(file)) return;
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .filter((line) => {
      const event = JSON.parse(line) as RunEvent;
      if (event.type === 'runFinished') return false;
      return !('step' in event) || event.step <= step;
    });
  fs.writeFileSync(file, kept.map((l) => `${l}\n`).join(''));
}

