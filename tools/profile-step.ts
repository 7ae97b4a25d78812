/**
 * Profiles bnlab's real training step (server/train/step.ts `trainStep`) and inference
 * (`model.predict`) of a shared backbone with bnlab's classifier head on the active backend, with
 * per-kernel exclusive times (every registered kernel of the backend wrapped by a timer; time spent
 * in nested kernel calls is charged to the inner kernel only).
 *
 *   BNLAB_MODELS_DIR=/work/shared/models node --import tsx tools/profile-step.ts \
 *     [--backbone mobilenet_v1_0.25_224] [--batch 16] [--steps 5] [--regimes inference,full,train-bn]
 *     [--backend wasm] [--no-kernels] [--top 15] [--bench-model mnv1-1.0-224] [--no-lazy-conv] [--no-lean-relu6] [--no-lean-relu-max]
 *
 * --bench-model takes a model of bench/models.ts instead (e.g. the random-weight α1.0 architecture);
 * Conv2D layers use lazy gradients (lazy-conv-gradients.ts) unless --no-lazy-conv, relu6 layers
 * lean-relu6 (relu6-activation.ts) unless --no-lean-relu6; BNLAB_FUSED_BN=0 switches the BN wrapper
 * back to tfjs's own training path, BNLAB_EARLY_GRADIENT_RELEASE=0 keeps every gradient to the end
 * of backprop (for before/after comparisons).
 *
 * Prints, per regime, median wall and process-CPU ms per image (CPU time counts every thread of the
 * process, so CPU > wall means several cores worked), the wasm heap size after the regime, and the
 * top kernels by exclusive time.
 */
import * as tf from '@tensorflow/tfjs';
import { loadConfig } from '../server/config.ts';
import { loadBackbone } from '../server/backbones/load.ts';
import { buildClassifier } from '../server/backbones/head.ts';
import { createOptimizer } from '../server/train/optimizer.ts';
import { applyPolicy, makeTrainable } from '../server/train/prepare.ts';
import { trainStep } from '../server/train/step.ts';
import { selectBackend } from '../server/engine/backend.ts';
import { findBenchModel, loadBenchBackbone } from '../bench/models.ts';

interface KernelTimes {
  total: Map<string, { ms: number; calls: number }>;
  enabled: boolean;
}

/** Re-registers every kernel of `backendName` with an exclusive-time accumulator around it. */
function instrumentKernels(backendName: string, traced: Set<string>): KernelTimes {
  const traceCounts = new Map<string, number>();
  const traceLimit = Number(process.env.TRACE_LIMIT ?? 2);
  const times: KernelTimes = { total: new Map(), enabled: false };
  const stack: number[] = []; // time spent in children of each active kernel
  for (const config of tf.getKernelsForBackend(backendName)) {
    const inner = config.kernelFunc;
    const name = config.kernelName;
    tf.unregisterKernel(name, backendName);
    tf.registerKernel({
      ...config,
      kernelFunc: ((args: Parameters<tf.KernelFunc>[0]) => {
        if (!times.enabled) return inner(args);
        if (traced.has(name) && (traceCounts.get(name) ?? 0) < traceLimit) {
          traceCounts.set(name, (traceCounts.get(name) ?? 0) + 1);
          const shapes = Object.entries(args.inputs).map(([k, v]) => `${k}[${(v as tf.TensorInfo).shape}]`).join(' ');
          console.log(`trace ${name} ${shapes} ${JSON.stringify(args.attrs ?? {})}\n${new Error().stack?.split('\n').slice(2, 14).join('\n')}`);
        }
        stack.push(0);
        const start = performance.now();
        const out = inner(args);
        const elapsed = performance.now() - start;
        const children = stack.pop()!;
        if (stack.length) stack[stack.length - 1] += elapsed;
        const entry = times.total.get(name) ?? { ms: 0, calls: 0 };
        entry.ms += elapsed - children;
        entry.calls++;
        times.total.set(name, entry);
        return out;
      }) as tf.KernelFunc,
    });
  }
  return times;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function main() {
  const args = process.argv.slice(2);
  const option = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
  const backboneName = option('--backbone', 'mobilenet_v1_0.25_224');
  const batch = Number(option('--batch', '16'));
  const steps = Number(option('--steps', '5'));
  const top = Number(option('--top', '15'));
  const regimes = option('--regimes', 'inference,full,train-bn').split(',');
  const backend = await selectBackend(option('--backend', 'wasm'));
  const times = args.includes('--no-kernels') ? null : instrumentKernels(backend, new Set(option('--trace', '').split(',')));
  console.log(`backend ${backend}, tfjs ${tf.version.tfjs}, ${backboneName}, batch ${batch}, ${steps} timed steps`);

  const benchModel = args.includes('--bench-model') ? findBenchModel(option('--bench-model', '')) : null;
  const backbone = benchModel ? (await loadBenchBackbone(benchModel)).backbone : await loadBackbone(backboneName, loadConfig());
  const numClasses = benchModel?.numClasses ?? 2;
  const { model, headLayerNames } = buildClassifier(backbone, numClasses, { hidden: [], dropout: 0 }, 0);
  const trainable = makeTrainable(model, headLayerNames, { lazyConv: !args.includes('--no-lazy-conv'), leanRelu6: !args.includes('--no-lean-relu6'), leanReluMax: !args.includes('--no-lean-relu-max') });
  const { lazyConvLayers, leanRelu6Layers, leanReluMaxLayers } = trainable;
  const onOff = (env: string) => (process.env[env] === '0' ? 'off' : 'on');
  console.log(
    `${backbone.name}: lazy conv gradients on ${lazyConvLayers} Conv2D layers, lean relu6 on ${leanRelu6Layers} layers, lean ReLU(max) on ${leanReluMaxLayers}, ` +
      `fused BN training ${onOff('BNLAB_FUSED_BN')}, early gradient release ${onOff('BNLAB_EARLY_GRADIENT_RELEASE')}`,
  );
  const heapBytes = () => {
    const wasm = (tf.backend() as unknown as { wasm?: { HEAPF32: Float32Array } }).wasm;
    return wasm ? wasm.HEAPF32.buffer.byteLength : 0;
  };
  const size = backbone.entry.inputSize;
  const images = new Float32Array(batch * size * size * 3).map((_, i) => Math.sin(i * 0.37));
  const labels = Int32Array.from({ length: batch }, (_, i) => i % numClasses);

  for (const regime of regimes) {
    let run: () => Promise<void>;
    if (regime === 'inference') {
      run = async () => {
        const x = tf.tensor4d(images, [batch, size, size, 3]);
        const y = model.predict(x, { batchSize: batch }) as tf.Tensor;
        await y.data();
        tf.dispose([x, y]);
      };
    } else {
      const { variables } = applyPolicy(trainable, regime);
      const optimizer = createOptimizer({ type: 'adam', lr: 1e-4, momentum: 0.9, schedule: 'constant', stepEvery: 1 });
      run = async () => {
        const out = trainStep(model, optimizer, variables, images, labels, batch, size, numClasses);
        await out.data();
        out.dispose();
      };
    }
    try {
      await run(); // warm-up: kernel setup, optimizer slots
      await run();
    } catch (error) {
      console.log(`\n${regime}: FAILED (${(error as Error).message.split('\n')[0]}); wasm heap ${(heapBytes() / 2 ** 20).toFixed(0)} MiB`);
      continue;
    }
    const wall: number[] = [];
    const cpu: number[] = [];
    if (times) {
      times.total.clear();
      times.enabled = true;
    }
    for (let i = 0; i < steps; i++) {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      await run();
      const used = process.cpuUsage(cpuStart);
      wall.push((performance.now() - start) / batch);
      cpu.push((used.user + used.system) / 1000 / batch);
    }
    if (times) times.enabled = false;
    console.log(
      `\n${regime}: wall ${median(wall).toFixed(2)} ms/img (min ${Math.min(...wall).toFixed(2)}), ` +
        `CPU ${median(cpu).toFixed(2)} ms/img (min ${Math.min(...cpu).toFixed(2)}), ` +
        `wasm heap ${(heapBytes() / 2 ** 20).toFixed(0)} MiB, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
    );
    if (times) {
      const rows = [...times.total].sort((a, b) => b[1].ms - a[1].ms);
      const sum = rows.reduce((s, [, t]) => s + t.ms, 0);
      console.log(`  kernels: ${(sum / steps / batch).toFixed(2)} ms/img in all (exclusive, per step mean)`);
      for (const [name, t] of rows.slice(0, top)) {
        console.log(`  ${name.padEnd(36)} ${(t.ms / steps).toFixed(1).padStart(8)} ms/step ${(t.ms / steps / batch).toFixed(2).padStart(7)} ms/img ${String(t.calls / steps).padStart(5)} calls`);
      }
    }
  }
  model.dispose();
}

await main();
