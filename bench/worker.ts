/**
 * One benchmark process: one model on one tfjs backend, its regimes in order of growing memory
 * (inference, freeze-all, train-bn, drift, full), so that the peak RSS and wasm heap read after
 * each regime are the peaks up to and including it. Spawned by run.ts; prints one result line
 * `BENCH_RESULT <json>` (WorkerResult) on stdout.
 *
 *   node --import tsx bench/worker.ts --model <id> --backend <wasm|cpu|tensorflow> --regimes a,b \
 *     [--warmup N --iterations N --min-iterations N --budget-ms N]
 *
 * Training steps call server/train/step.ts `trainStep`, the function `bnlab train` runs, and wait
 * for its [loss, hits, outputSum] download, as the training loop does.
 */
import * as tf from '@tensorflow/tfjs';
import { buildClassifier } from '../server/backbones/head.ts';
import { selectBackend } from '../server/engine/backend.ts';
import { bnEpsilons, driftAll, snapshotBn } from '../server/stats/drift.ts';
import { foldedPredictor } from '../server/model/folded-inference.ts';
import { createOptimizer } from '../server/train/optimizer.ts';
import { applyPolicy, makeTrainable } from '../server/train/prepare.ts';
import { trainStep } from '../server/train/step.ts';
import { findBenchModel, INFERENCE_BATCH, loadBenchBackbone } from './models.ts';
import { writeResultLine } from './result-line.ts';
import { median, repeat, type RepeatPolicy } from './timing.ts';

export const WORKER_REGIMES = ['inference', 'freeze-all', 'train-bn', 'drift', 'full'] as const;
export type WorkerRegime = (typeof WORKER_REGIMES)[number];

export interface RegimeResult {
  regime: WorkerRegime;
  status: 'ok' | 'oom' | 'error' | 'skipped';
  message?: string;
  batch: number;
  /** per-iteration milliseconds per image (timed runs only) */
  msPerImage: number[];
  medianMsPerImage: number | null;
  /** drift only: the same steps without capture, interleaved with the captured ones */
  baselineMsPerImage?: number[];
  medianBaselineMsPerImage?: number | null;
  /** drift only: (captured step - plain step) / plain step, medians */
  driftCostFraction?: number | null;
  /** drift only: milliseconds to download batch means, snapshot BN state and compute drift */
  driftReadoutMs?: number | null;
  /** process peak resident set size so far (MiB) */
  peakRssMiB: number;
  /** wasm backend heap (WebAssembly.Memory) size so far, MiB; null on other backends */
  wasmHeapMiB: number | null;
  /** tensors left behind by the regime (0 = no leak) */
  leakedTensors: number;
  /** inference only: the same batches through the BN-folded predictor that `bnlab predict` uses */
  foldedMsPerImage?: number[];
  medianFoldedMsPerImage?: number | null;
}

export interface WorkerResult {
  model: string;
  backend: string;
  status: 'ok' | 'unavailable' | 'error';
  message?: string;
  note?: string;
  tfjsVersion: string;
  regimes: RegimeResult[];
  /** CPU seconds used by this process (user + system), for the load accounting in run.ts */
  cpuSeconds: number;
  /** wall-clock seconds of the whole process (set by run.ts) */
  wallSeconds?: number;
  peakRssMiB: number;
}

const MiB = 1024 * 1024;

function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
}

function wasmHeapMiB(): number | null {
  if (tf.getBackend() !== 'wasm') return null;
  const backend = tf.backend() as unknown as { wasm?: { HEAPF32?: Float32Array } };
  const buffer = backend.wasm?.HEAPF32?.buffer;
  return buffer ? buffer.byteLength / MiB : null;
}

/** Deterministic pseudo-images in [-1, 1] (a preprocessed batch) and labels. */
function syntheticBatch(count: number, size: number, numClasses: number, seed: number): { images: Float32Array; labels: Int32Array } {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const images = new Float32Array(count * size * size * 3);
  for (let i = 0; i < images.length; i++) images[i] = next() * 2 - 1;
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) labels[i] = i % numClasses;
  return { images, labels };
}

/** wasm32 address space: the wasm backend's heap cannot grow past 4 GiB. */
const WASM_HEAP_LIMIT_MIB = 4096;

/**
 * Out of memory: an allocation error, or the wasm module aborting (emscripten's bare "Aborted()")
 * with its heap at the 4 GiB wasm32 limit.
 */
function isOutOfMemory(error: unknown): boolean {
  const text = `${(error as Error)?.message ?? error}`;
  if (/out of memory|OOM|Cannot enlarge memory|Array buffer allocation failed|allocation failed/i.test(text)) return true;
  return /Aborted\(/.test(text) && (wasmHeapMiB() ?? 0) >= WASM_HEAP_LIMIT_MIB * 0.95;
}

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i]!.startsWith('--')) out[argv[i]!.slice(2)] = argv[i + 1] ?? '';
  }
  return out;
}

async function main(): Promise<WorkerResult> {
  const args = parseArgs(process.argv.slice(2));
  const spec = findBenchModel(args.model ?? '');
  const policy: RepeatPolicy = {
    warmup: Number(args.warmup ?? 2),
    iterations: Number(args.iterations ?? 5),
    minIterations: Number(args['min-iterations'] ?? 3),
    budgetMs: Number(args['budget-ms'] ?? 20_000),
  };
  const regimes = (args.regimes ?? WORKER_REGIMES.join(',')).split(',').filter(Boolean) as WorkerRegime[];
  const base = { model: spec.id, backend: args.backend ?? 'wasm', tfjsVersion: tf.version.tfjs, regimes: [] as RegimeResult[] };

  try {
    base.backend = await selectBackend(args.backend ?? 'wasm');
  } catch (error) {
    return { ...base, status: 'unavailable', message: (error as Error).message, cpuSeconds: 0, peakRssMiB: peakRssMiB() };
  }

  const { backbone, note } = await loadBenchBackbone(spec);
  const { model, headLayerNames } = buildClassifier(backbone, spec.numClasses, { hidden: [], dropout: 0 }, 0);
  const trainable = makeTrainable(model, headLayerNames); // the set-up runTraining uses, so the bench measures what users run
  const size = spec.inputSize;
  const results: RegimeResult[] = [];
  let broken: string | null = null;

  for (const regime of WORKER_REGIMES.filter((r) => regimes.includes(r))) {
    const batch = regime === 'inference' ? INFERENCE_BATCH : spec.trainBatch;
    const memory = () => ({ peakRssMiB: peakRssMiB(), wasmHeapMiB: wasmHeapMiB() });
    if (broken) {
      results.push({ regime, status: 'skipped', message: broken, batch, msPerImage: [], medianMsPerImage: null, leakedTensors: 0, ...memory() });
      continue;
    }
    const tensorsBefore = tf.memory().numTensors;
    const data = syntheticBatch(batch, size, spec.numClasses, 12345);
    try {
      let result: Partial<RegimeResult>;
      if (regime === 'inference') {
        const times = await repeat(policy, async () => {
          const start = performance.now();
          const x = tf.tensor4d(data.images, [batch, size, size, 3]);
          const y = model.predict(x, { batchSize: batch }) as tf.Tensor;
          await y.data();
          tf.dispose([x, y]);
          return (performance.now() - start) / batch;
        });
        const folded = foldedPredictor(model);
        const foldedTimes = await repeat(policy, async () => {
          const start = performance.now();
          const x = tf.tensor4d(data.images, [batch, size, size, 3]);
          const y = folded.predict(x);
          await y.data();
          tf.dispose([x, y]);
          return (performance.now() - start) / batch;
        });
        folded.dispose();
        result = { msPerImage: times, medianMsPerImage: median(times), foldedMsPerImage: foldedTimes, medianFoldedMsPerImage: median(foldedTimes) };
      } else {
        const planName = regime === 'drift' ? 'train-bn' : regime;
        const { variables } = applyPolicy(trainable, planName);
        const optimizer = createOptimizer({ type: 'adam', lr: 1e-3, momentum: 0.9, schedule: 'constant', stepEvery: 1 });
        const step = async () => {
          const out = trainStep(model, optimizer, variables, data.images, data.labels, batch, size, spec.numClasses);
          await out.data();
          out.dispose();
        };
        if (regime !== 'drift') {
          const times = await repeat(policy, async () => {
            const start = performance.now();
            await step();
            return (performance.now() - start) / batch;
          });
          result = { msPerImage: times, medianMsPerImage: median(times) };
        } else {
          // A plain and a captured step per repetition, in alternating order, so that load
          // changes during the run hit both alike. Capture on every step is the worst case:
          // the training loop captures only every `logEvery` steps.
          const reference = snapshotBn(model);
          const epsilons = bnEpsilons(model);
          const plain: number[] = [];
          const captured: number[] = [];
          const readouts: number[] = [];
          let pair = 0;
          const timedStep = async (capture: boolean) => {
            trainable.bn.setCapture(capture);
            const start = performance.now();
            await step();
            if (capture) {
              const readStart = performance.now();
              const means = await trainable.bn.takeBatchMeans();
              driftAll(snapshotBn(model), reference, epsilons, means);
              readouts.push(performance.now() - readStart);
            }
            const ms = (performance.now() - start) / batch;
            (capture ? captured : plain).push(ms);
            return ms;
          };
          const pairs = await repeat({ ...policy, warmup: Math.min(policy.warmup, 1) }, async () => {
            const captureFirst = pair++ % 2 === 1;
            return (await timedStep(captureFirst)) + (await timedStep(!captureFirst));
          });
          trainable.bn.setCapture(false);
          const n = pairs.length; // the last n of each list are the timed (non-warmup) ones
          const on = captured.slice(-n);
          const off = plain.slice(-n);
          result = {
            msPerImage: on,
            medianMsPerImage: median(on),
            baselineMsPerImage: off,
            medianBaselineMsPerImage: median(off),
            driftCostFraction: (median(on) - median(off)) / median(off),
            driftReadoutMs: median(readouts.slice(-n)),
          };
        }
        optimizer.dispose();
      }
      results.push({ regime, status: 'ok', batch, msPerImage: [], medianMsPerImage: null, ...result, leakedTensors: tf.memory().numTensors - tensorsBefore, ...memory() });
      process.stderr.write(`[bench]   ${spec.id} ${regime} on ${base.backend}: ${result.medianMsPerImage?.toFixed(1)} ms/image (median of ${result.msPerImage?.length})\n`);
    } catch (error) {
      const oom = isOutOfMemory(error);
      const message = (error as Error).message?.split('\n')[0] ?? String(error);
      if (oom) broken = `not run: an earlier regime ran out of memory (${message})`;
      results.push({ regime, status: oom ? 'oom' : 'error', message, batch, msPerImage: [], medianMsPerImage: null, leakedTensors: 0, ...memory() });
    }
  }
  model.dispose();
  const cpu = process.cpuUsage();
  return { ...base, status: 'ok', note, regimes: results, cpuSeconds: (cpu.user + cpu.system) / 1e6, peakRssMiB: peakRssMiB() };
}

main()
  .then((result) => {
    writeResultLine(result);
    process.exit(0);
  })
  .catch((error) => {
    writeResultLine({ status: 'error', message: (error as Error).stack ?? String(error), regimes: [] });
    process.exit(1);
  });
