/**
 * Times bnlab's wasm gradient kernels on the layer shapes of MobileNet v1 α0.25 @224, batch 16,
 * against the tfjs cpu backend's kernels, and optionally a whole training step of the real model.
 *
 *   node --import tsx tools/profile-kernels.ts [--cpu] [--kernels-off] [--reps N] [--batch N]
 *     [--step <model.json> [--steps N]]
 * (BNLAB_WASM_SIMD=0 times the typed-array fallbacks instead of the SIMD module.)
 *
 * Prints one row per (kernel, shape): wasm ms (median of reps) and, with --cpu, the cpu backend's ms
 * (one run; slow: seconds per layer, several minutes in all), then the
 * median full training step of the given layers model on wasm, if asked.
 */
import * as tf from '@tensorflow/tfjs';
import { diskHandler } from '../server/backbones/model-files.ts';
import { selectBackend } from '../server/engine/backend.ts';

interface LayerShape {
  name: string;
  kernel: string;
  xShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  stride: number;
  dyShape: [number, number, number, number];
}

/** MobileNet v1 (α, resolution, batch): conv1 3×3/2, then 13 × (depthwise 3×3/s, pointwise 1×1). */
export function mobilenetV1GradientShapes(alpha = 0.25, resolution = 224, batch = 16): LayerShape[] {
  const width = (c: number) => Math.round(c * alpha);
  const blocks: [number, number][] = [
    [64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2],
    [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1],
  ];
  const shapes: LayerShape[] = [];
  let size = resolution / 2;
  let channels = width(32);
  shapes.push({
    name: 'conv1', kernel: 'Conv2DBackpropFilter', xShape: [batch, resolution, resolution, 3],
    filterShape: [3, 3, 3, channels], stride: 2, dyShape: [batch, size, size, channels],
  });
  blocks.forEach(([filters, stride], i) => {
    const outSize = Math.ceil(size / stride);
    const xShape: [number, number, number, number] = [batch, size, size, channels];
    const dwDy: [number, number, number, number] = [batch, outSize, outSize, channels];
    for (const kernel of ['DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
      shapes.push({ name: `conv_dw_${i + 1}`, kernel, xShape, filterShape: [3, 3, channels, 1], stride, dyShape: dwDy });
    }
    const outChannels = width(filters);
    const pwX: [number, number, number, number] = [batch, outSize, outSize, channels];
    const pwDy: [number, number, number, number] = [batch, outSize, outSize, outChannels];
    for (const kernel of ['Conv2DBackpropFilter', 'Conv2DBackpropInput']) {
      shapes.push({ name: `conv_pw_${i + 1}`, kernel, xShape: pwX, filterShape: [1, 1, channels, outChannels], stride: 1, dyShape: pwDy });
    }
    size = outSize;
    channels = outChannels;
  });
  return shapes;
}

function runOnce(s: LayerShape, x: tf.Tensor, dy: tf.Tensor, filter: tf.Tensor): number {
  const attrs = { strides: [s.stride, s.stride], pad: 'same', dilations: [1, 1], dataFormat: 'NHWC' };
  const start = performance.now();
  const out =
    s.kernel === 'Conv2DBackpropInput' || s.kernel === 'DepthwiseConv2dNativeBackpropInput'
      ? tf.engine().runKernel(s.kernel, { dy, filter }, { ...attrs, inputShape: s.xShape } as never)
      : tf.engine().runKernel(s.kernel, { x, dy }, { ...attrs, filterShape: s.filterShape } as never);
  const ms = performance.now() - start; // wasm and cpu kernels run synchronously
  (out as tf.Tensor).dispose();
  return ms;
}

async function timeKernel(backend: string, s: LayerShape, reps: number): Promise<number> {
  await tf.setBackend(backend);
  const x = tf.randomNormal(s.xShape);
  const dy = tf.randomNormal(s.dyShape);
  const filter = tf.randomNormal(s.filterShape);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) times.push(runOnce(s, x, dy, filter));
  tf.dispose([x, dy, filter]);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/**
 * Median wall and process-CPU ms of full training steps (forward in training mode, backward, SGD
 * update of all weights). CPU time is the steadier figure on a shared machine (tfjs wasm runs on
 * one thread here, so CPU ms ≈ wall ms when the machine is otherwise idle).
 */
async function timeTrainingStep(modelJsonPath: string, batch: number, steps: number): Promise<{ wallMs: number; cpuMs: number }> {
  const model = await tf.loadLayersModel(diskHandler(modelJsonPath));
  const [, h, w, c] = model.inputs[0].shape as number[];
  const classes = (model.outputs[0].shape as number[]).at(-1)!;
  const xs = tf.randomUniform([batch, h, w, c], -1, 1);
  const ys = tf.oneHot(tf.randomUniform([batch], 0, classes, 'int32'), classes);
  const optimizer = tf.train.sgd(1e-3);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < steps + 1; i++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar,
      true,
    )!;
    await loss.data();
    loss.dispose();
    const used = process.cpuUsage(cpuStart);
    if (i > 0) {
      // step 0 warms up (kernel setup, optimizer state)
      wall.push(performance.now() - start);
      cpu.push((used.user + used.system) / 1000);
    }
  }
  tf.dispose([xs, ys]);
  model.dispose();
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  return { wallMs: median(wall), cpuMs: median(cpu) };
}

async function main() {
  const args = process.argv.slice(2);
  const flag = (name: string) => args.includes(name);
  const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const reps = Number(option('--reps') ?? 3);
  const batch = Number(option('--batch') ?? 16);
  console.log(`backend: ${await selectBackend('wasm')}; tfjs ${tf.version.tfjs}`);

  if (!flag('--kernels-off')) {
    const totals = new Map<string, { wasm: number; cpu: number }>();
    const withCpu = flag('--cpu');
    console.log(['layer', 'kernel', 'x', 'wasm ms', withCpu ? 'cpu ms' : ''].join('\t'));
    for (const s of mobilenetV1GradientShapes(0.25, 224, batch)) {
      const wasmMs = await timeKernel('wasm', s, reps);
      const cpuMs = withCpu ? await timeKernel('cpu', s, 1) : NaN;
      const total = totals.get(s.kernel) ?? { wasm: 0, cpu: 0 };
      totals.set(s.kernel, { wasm: total.wasm + wasmMs, cpu: total.cpu + cpuMs });
      console.log([s.name, s.kernel, s.xShape.join('x'), wasmMs.toFixed(1), withCpu ? cpuMs.toFixed(1) : ''].join('\t'));
    }
    for (const [kernel, t] of totals) {
      console.log(`total ${kernel}: wasm ${t.wasm.toFixed(1)} ms` + (withCpu ? `, cpu ${t.cpu.toFixed(1)} ms` : ''));
    }
  }

  const modelPath = option('--step');
  if (modelPath) {
    await tf.setBackend('wasm');
    const { wallMs, cpuMs } = await timeTrainingStep(modelPath, batch, Number(option('--steps') ?? 3));
    console.log(
      `training step (wasm, batch ${batch}): wall ${wallMs.toFixed(0)} ms = ${(wallMs / batch).toFixed(1)} ms/image; ` +
        `process CPU ${cpuMs.toFixed(0)} ms = ${(cpuMs / batch).toFixed(1)} ms/image`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
