/**
 * Crash safety of `bnlab train`: the real CLI is SIGKILLed at many moments (at random times, after a
 * random training step, and the instant a checkpoint temp file appears), then restarted with
 * --resume. After every kill the checkpoint on disk must load; at the end the resumed run must
 * hold exactly the weights, and report exactly the losses and accuracies, of an uninterrupted run
 * with the same recipe and seed (checkpoints at epoch ends, per-epoch seeded shuffles and crops).
 *
 * Short version (a few kills) always; BNLAB_LONG_TESTS=1 for many. BNLAB_KILL_SEED picks the kill
 * schedule (default fixed, so a failure can be replayed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../server/engine/backend.ts';
import type { RunEvent } from '../../server/schema/events.ts';
import { loadConfig } from '../../server/config.ts';
import { parseRecipe } from '../../server/schema/recipe.ts';
import { loadCheckpoint } from '../../server/train/checkpoint.ts';
import { runTraining } from '../../server/train/loop.ts';
import { BNLAB_BIN, STACK_TRACE, cliEnv, tempDir, writeImageFolder, writeRecipe, writeTinyBackbone } from '../support/reliability-fixtures.ts';
import { SuiteRecorder, type KillRecord } from './summary.ts';

const LONG = process.env.BNLAB_LONG_TESTS === '1';
const KILLS = LONG ? 24 : 4;
const KILL_SEED = Number(process.env.BNLAB_KILL_SEED ?? 20251125);

const recorder = new SuiteRecorder(LONG ? 'crash-safety-long' : 'crash-safety', `${LONG ? 'BNLAB_LONG_TESTS=1 ' : ''}npx vitest run test/reliability/crash-safety.test.ts`);
const work = tempDir('bnlab-crash-');
const RUN_ID = 'crash-run';
let recipeFile = '';
let totalSteps = 0;

/** mulberry32: a small seeded generator for the kill schedule. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Train {
  child: ChildProcess;
  /** stderr so far: '▶ <run>' appears once the run has started (after any resume truncation) */
  stderr: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  startedAt: number;
}

function startTraining(outDir: string, resume: boolean): Train {
  const args = [BNLAB_BIN, 'train', '--recipe', recipeFile, '--out', outDir, '--run', RUN_ID, ...(resume ? ['--resume'] : [])];
  const child = spawn(process.execPath, args, { cwd: work, env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, done, startedAt: Date.now(), stderr: () => stderr };
}

function readEvents(outDir: string): RunEvent[] {
  const file = path.join(outDir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as RunEvent];
      } catch {
        return []; // a torn last line is checked separately
      }
    });
}

function lastStep(outDir: string): number {
  const steps = readEvents(outDir).filter((e) => e.type === 'stepEnd');
  return steps.length ? (steps.at(-1) as { step: number }).step : 0;
}

type Trigger = { kind: 'time'; ms: number } | { kind: 'step'; step: number } | { kind: 'tmp' };

/**
 * Wait for the trigger, then SIGKILL. Watches the folder (inotify) and polls every 2 ms as a
 * fallback, so a checkpoint's temp file is caught while it exists.
 */
async function killOn(run: Train, outDir: string, trigger: Trigger): Promise<{ killed: boolean; atMs: number; sawTmp: boolean }> {
  let exited = false;
  void run.done.then(() => (exited = true));
  let sawTmp = false;
  // temp files a previous kill left behind are not this process's checkpoint write
  const staleTemps = new Set(fs.readdirSync(outDir).filter((n) => n.endsWith('.tmp')));
  const fire = (): boolean => {
    if (exited) return true;
    if (trigger.kind === 'time' && Date.now() - run.startedAt < trigger.ms) return false;
    // metrics.jsonl holds only this process's view once it has announced the run on stderr
    if (trigger.kind === 'step' && (!run.stderr().includes('▶') || lastStep(outDir) < trigger.step)) return false;
    if (trigger.kind === 'tmp') {
      if (!fs.readdirSync(outDir).some((n) => n.endsWith('.tmp') && !staleTemps.has(n))) return false;
      sawTmp = true;
    }
    run.child.kill('SIGKILL');
    return true;
  };
  await new Promise<void>((resolve) => {
    let watcher: fs.FSWatcher | null = null;
    const stop = () => {
      clearInterval(timer);
      watcher?.close();
      resolve();
    };
    const timer = setInterval(() => fire() && stop(), 2);
    try {
      watcher = fs.watch(outDir, () => fire() && stop());
    } catch {
      // polling alone
    }
  });
  const result = await run.done;
  return { killed: result.signal === 'SIGKILL', atMs: Date.now() - run.startedAt, sawTmp };
}

/** The checkpoint in `outDir` (if any) loads, and every file model.json names is there. */
async function checkCheckpoint(outDir: string): Promise<{ step: number | null; loads: boolean; error?: string }> {
  if (!fs.existsSync(path.join(outDir, 'model.json'))) return { step: null, loads: true };
  try {
    const { model, meta } = await loadCheckpoint(outDir);
    const finite = model.getWeights().every((w) => Array.from(w.dataSync()).every(Number.isFinite));
    model.dispose();
    JSON.parse(fs.readFileSync(path.join(outDir, 'checkpoint.json'), 'utf8'));
    return { step: meta.step, loads: finite, error: finite ? undefined : 'non-finite weights' };
  } catch (error) {
    return { step: null, loads: false, error: (error as Error).message };
  }
}

beforeAll(async () => {
  await selectBackend('wasm');
  const backbone = await writeTinyBackbone(path.join(work, 'backbone'));
  const images = await writeImageFolder(path.join(work, 'images'), 16);
  // 2 x 16 images, 4 to val per class -> 24 train; batch 4 -> 6 steps per epoch; augmentation on.
  recipeFile = writeRecipe(path.join(work, 'recipe.json'), {
    backbone,
    data: images,
    policy: 'train-bn',
    epochs: 6,
    batchSize: 4,
    seed: 11,
    valFraction: 0.25,
    logEvery: 3,
    // SGD momentum here: its whole state is saved. Adam's resume is checked on its own below.
    optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9 },
    augment: { randomResizedCrop: true, scale: [0.5, 1], horizontalFlip: true },
  });
  totalSteps = 6 * 6;
});

afterAll(() => {
  recorder.write();
  fs.rmSync(work, { recursive: true, force: true });
});

describe(`SIGKILL during training (${KILLS} kills${LONG ? ', long version' : ''})`, () => {
  it('every checkpoint loads after every kill, --resume continues, and the result equals an uninterrupted run', async () => {
    const started = Date.now();
    const reference = path.join(work, 'reference');
    const whole = startTraining(reference, false);
    const wholeResult = await whole.done;
    expect(wholeResult.code, wholeResult.stderr).toBe(0);
    const referenceSeconds = (Date.now() - whole.startedAt) / 1000;

    const outDir = path.join(work, 'interrupted');
    fs.mkdirSync(outDir, { recursive: true });
    const random = rng(KILL_SEED);
    const kinds: Trigger['kind'][] = ['tmp', 'step', 'time'];
    let pendingResume: KillRecord | null = null;
    let kill = 0;
    let attempts = 0;
    while (kill < KILLS && attempts < KILLS * 3) {
      attempts++;
      const done = (await checkCheckpoint(outDir)).step ?? 0;
      const kind = kinds[kill % kinds.length];
      const trigger: Trigger =
        kind === 'time'
          ? { kind, ms: Math.round(random() * 0.9 * referenceSeconds * 1000) }
          : kind === 'step'
            ? { kind, step: Math.min(totalSteps, done + 1 + Math.floor(random() * (totalSteps - done))) }
            : { kind };
      const run = startTraining(outDir, kill > 0);
      const outcome = await killOn(run, outDir, trigger);
      const { stderr } = await run.done;
      expect(STACK_TRACE.test(stderr), stderr).toBe(false);
      if (pendingResume) {
        const resumed = /resumed from checkpoint at epoch \d+, step (\d+)/.exec(stderr);
        if (resumed) {
          pendingResume.resumed = Number(resumed[1]) === pendingResume.checkpointStep;
          expect(Number(resumed[1])).toBe(pendingResume.checkpointStep);
        }
      }
      if (!outcome.killed) {
        // finished (or failed) before the trigger: it must have been a clean end, and does not count as a kill
        const finished = await run.done;
        expect(finished.code, finished.stderr).toBe(0);
        pendingResume = null; // its resume was checked above; the next start resumes from this run's end
        continue;
      }
      kill++;
      const checkpoint = await checkCheckpoint(outDir);
      const record: KillRecord = {
        kill,
        trigger: trigger.kind === 'time' ? `${trigger.ms} ms after start` : trigger.kind === 'step' ? `after step ${trigger.step}` : `checkpoint temp file seen${outcome.sawTmp ? '' : ' (not reached)'}`,
        atMs: outcome.atMs,
        checkpointStep: checkpoint.step,
        checkpointLoads: checkpoint.loads,
        tmpFilesLeft: fs.readdirSync(outDir).filter((n) => n.endsWith('.tmp')).length,
        resumed: null,
      };
      recorder.kills.push(record);
      expect(checkpoint.loads, checkpoint.error).toBe(true);
      pendingResume = checkpoint.step === null ? null : record;
    }

    const last = startTraining(outDir, true);
    const lastResult = await last.done;
    expect(lastResult.code, lastResult.stderr).toBe(0);
    expect(STACK_TRACE.test(lastResult.stderr)).toBe(false);
    if (pendingResume) {
      const resumed = /resumed from checkpoint at epoch \d+, step (\d+)/.exec(lastResult.stderr);
      pendingResume.resumed = resumed !== null && Number(resumed[1]) === pendingResume.checkpointStep;
      expect(pendingResume.resumed, lastResult.stderr).toBe(true);
    }
    expect(fs.readdirSync(outDir).filter((n) => n.endsWith('.tmp'))).toEqual([]);

    // Same weights as the uninterrupted run, bit for bit.
    const a = await loadCheckpoint(reference);
    const b = await loadCheckpoint(outDir);
    expect(b.meta.completed).toBe(true);
    const wa = a.model.getWeights();
    const wb = b.model.getWeights();
    expect(wb.length).toBe(wa.length);
    let differing = 0;
    wa.forEach((w, i) => {
      const x = w.dataSync();
      const y = wb[i].dataSync();
      if (x.length !== y.length || x.some((v, j) => v !== y[j])) differing++;
    });
    a.model.dispose();
    b.model.dispose();

    // Same metrics: every step's loss and accuracy, every epoch's train/val figures.
    const figures = (dir: string) => {
      const events = readEvents(dir);
      return {
        steps: events.filter((e) => e.type === 'stepEnd').map((e) => [(e as { step: number }).step, (e as { loss: number }).loss, (e as { accuracy: number }).accuracy]),
        epochs: events.filter((e) => e.type === 'epochEnd').map((e) => {
          const { epoch, train, val, valTrainModeAccuracy } = e as Extract<RunEvent, { type: 'epochEnd' }>;
          return { epoch, train, val, valTrainModeAccuracy };
        }),
        finished: events.filter((e) => e.type === 'runFinished').map((e) => (e as { status: string }).status),
      };
    };
    const ref = figures(reference);
    const got = figures(outDir);

    recorder.extra.killSeed = KILL_SEED;
    recorder.extra.killsPlanned = KILLS;
    recorder.extra.killsSurvived = recorder.kills.filter((k) => k.checkpointLoads).length;
    recorder.extra.killsDuringCheckpointWrite = recorder.kills.filter((k) => k.trigger === 'checkpoint temp file seen').length;
    recorder.extra.weightTensorsDiffering = differing;
    recorder.extra.metricsEqual = JSON.stringify(ref) === JSON.stringify(got);
    const firstDiff = ref.steps.findIndex((r, i) => JSON.stringify(r) !== JSON.stringify(got.steps[i]));
    recorder.extra.firstDifferingStepEvent = firstDiff < 0 ? null : { reference: ref.steps[firstDiff], resumed: got.steps[firstDiff] ?? null, resumedStepCount: got.steps.length };
    recorder.extra.referenceSeconds = referenceSeconds;
    recorder.extra.totalSeconds = (Date.now() - started) / 1000;

    const survived = recorder.kills.filter((k) => k.checkpointLoads).length;
    const same = differing === 0 && JSON.stringify(ref) === JSON.stringify(got) && got.finished.join() === 'completed';
    recorder.record({
      id: LONG ? 'sigkill-resume-long' : 'sigkill-resume',
      group: 'crash safety',
      input: `bnlab train SIGKILLed ${recorder.kills.length} times (random time, after a random step, at a checkpoint temp file), --resume after each`,
      outcome: 'ok',
      message: `${survived}/${recorder.kills.length} kills left a loadable checkpoint; final run ${lastResult.code === 0 ? 'exited 0' : `exited ${lastResult.code}`}; weight tensors differing from the uninterrupted run: ${differing}; metrics identical: ${JSON.stringify(ref) === JSON.stringify(got)}`,
      expected: 'every checkpoint loads; resumed = uninterrupted (weights and metrics)',
      passed: survived === recorder.kills.length && recorder.kills.length === KILLS && same,
      crashed: false,
    });
    expect(recorder.kills.length).toBe(KILLS);
    expect(differing).toBe(0);
    expect(got.steps).toEqual(ref.steps);
    expect(got.epochs).toEqual(ref.epochs);
    expect(got.finished).toEqual(['completed']);
  });
});

describe('Adam state across a resume', () => {
  /**
   * tfjs Adam keeps beta1^t and beta2^t as running products (acc *= beta each step, in float32),
   * but optimizer.setWeights() rebuilds them as pow(beta, t): after a dozen steps the two differ in
   * the last bits, so a resumed Adam run drifts from the uninterrupted one. This pins that down.
   */
  it('a run stopped after 3 of 5 epochs (18 Adam steps) and resumed equals the uninterrupted run bit for bit', async () => {
    const config = { ...loadConfig(), checkpointsDir: path.join(work, 'adam') };
    const recipe = parseRecipe({ ...JSON.parse(fs.readFileSync(recipeFile, 'utf8')), epochs: 5, optimizer: { type: 'adam', lr: 0.01 } });
    const run = (outDir: string, opts: { resume?: boolean; stopAfterEpoch?: number } = {}) => {
      const controller = new AbortController();
      return runTraining(recipe, {
        runId: 'adam',
        config,
        backend: 'wasm',
        outDir,
        resume: opts.resume,
        signal: controller.signal,
        onEvent: (e) => e.type === 'checkpoint' && opts.stopAfterEpoch !== undefined && e.step >= opts.stopAfterEpoch * 6 && controller.abort(),
      });
    };
    await run(path.join(config.checkpointsDir, 'whole'));
    await expect(run(path.join(config.checkpointsDir, 'resumed'), { stopAfterEpoch: 3 })).rejects.toThrow(/stopped/);
    await run(path.join(config.checkpointsDir, 'resumed'), { resume: true });
    const a = await loadCheckpoint(path.join(config.checkpointsDir, 'whole'));
    const b = await loadCheckpoint(path.join(config.checkpointsDir, 'resumed'));
    let maxDifference = 0;
    a.model.getWeights().forEach((w, i) => {
      const x = w.dataSync();
      const y = b.model.getWeights()[i].dataSync();
      x.forEach((v, j) => (maxDifference = Math.max(maxDifference, Math.abs(v - y[j]))));
    });
    a.model.dispose();
    b.model.dispose();
    recorder.extra.adamResumeMaxWeightDifference = maxDifference;
    recorder.record({
      id: 'adam-resume-exact',
      group: 'crash safety',
      input: 'Adam, 5 epochs x 6 steps, stopped after epoch 3 and resumed (in process)',
      outcome: 'ok',
      message: `largest weight difference vs the uninterrupted run: ${maxDifference}`,
      expected: 'largest weight difference 0',
      passed: maxDifference === 0,
      crashed: false,
    });
    expect(maxDifference).toBe(0);
  });
});
