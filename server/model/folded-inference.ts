/**
 * Forward-only execution with inference-mode BatchNorm folded into the convolution before it.
 *
 * In inference mode BN is an affine map per channel, y = (x - mean) * s + beta with
 * s = gamma / sqrt(var + eps), so conv -> BN is one convolution with kernel W' = W * s (per output
 * channel) and bias b' = (b - mean) * s + beta; a ReLU / ReLU6 right after is fused into the same
 * kernel (XNNPACK's clamp). That removes two full passes over every activation per block. The
 * folded parameters are computed in float64 and rounded once to float32, so outputs equal the
 * unfolded model's to float32 rounding, not bit for bit (folded-inference.test.ts bounds the
 * difference): used where nothing compares bits, `bnlab predict`; training, evaluation during
 * training and the frozen-prefix cache keep the layers as they are.
 *
 * Folded: Conv2D and DepthwiseConv2D (channels-last, linear activation, no dilation) whose output
 * goes only to a channels-last BN layer. Everything else runs as its own layer (model/layer-graph.ts).
 * The weights are read when the predictor is built: build a new one after changing them.
 */
import * as tf from '@tensorflow/tfjs';
import { isBatchNorm } from './layers.ts';
import { LayerGraph, type GraphStep } from './layer-graph.ts';

type Symbolic = tf.SymbolicTensor;
type FusedActivation = 'linear' | 'relu' | 'relu6';

interface ConvInternals {
  kernel?: { read(): tf.Tensor };
  depthwiseKernel?: { read(): tf.Tensor };
  bias?: { read(): tf.Tensor } | null;
  useBias: boolean;
  strides: number[];
  padding: 'same' | 'valid';
  dataFormat: string;
  dilationRate: number | number[];
  activation: { getClassName(): string } | null;
}

interface BnInternals {
  axis: number;
  epsilon: number;
  center: boolean;
  scale: boolean;
  gamma: { read(): tf.Tensor } | null;
  beta: { read(): tf.Tensor } | null;
  movingMean: { read(): tf.Tensor };
  movingVariance: { read(): tf.Tensor };
}

type Op =
  | { kind: 'layer'; step: GraphStep }
  | { kind: 'folded'; input: Symbolic; output: Symbolic; run: (x: tf.Tensor4D) => tf.Tensor4D; layers: string[] };

export interface FoldedPredictor {
  /** class probabilities (the model's output) for a batch; the caller disposes the result */
  predict(x: tf.Tensor): tf.Tensor;
  /** names of the conv + BN (+ activation) groups that were folded */
  folded: string[][];
  dispose(): void;
}

function activationOf(step: GraphStep): FusedActivation | null {
  const layer = step.layer as unknown as { getClassName(): string; maxValue?: number | null; activation?: { getClassName(): string } };
  const name = layer.getClassName();
  if (name === 'ReLU') {
    const max = layer.maxValue;
    if (max == null) return 'relu';
    return max === 6 ? 'relu6' : null;
  }
  if (name === 'Activation') {
    const fn = layer.activation?.getClassName().toLowerCase();
    return fn === 'relu' ? 'relu' : fn === 'relu6' ? 'relu6' : null;
  }
  return null;
}

/** Per-output-channel scale and shift of an inference-mode BN layer, float64. */
function bnAffine(bn: BnInternals): { scale: Float64Array; shift: Float64Array } {
  const mean = bn.movingMean.read().dataSync();
  const variance = bn.movingVariance.read().dataSync();
  const gamma = bn.scale && bn.gamma ? bn.gamma.read().dataSync() : null;
  const beta = bn.center && bn.beta ? bn.beta.read().dataSync() : null;
  const scale = new Float64Array(mean.length);
  const shift = new Float64Array(mean.length);
  for (let c = 0; c < mean.length; c++) {
    scale[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + bn.epsilon);
    shift[c] = (beta ? beta[c] : 0) - mean[c] * scale[c];
  }
  return { scale, shift };
}

export function foldedPredictor(model: tf.LayersModel): FoldedPredictor {
  const graph = new LayerGraph(model);
  const steps = graph.stepsFor(model.outputs, new Set());
  const outputs = model.outputs.map((t) => graph.canonical(t));
  const consumers = new Map<Symbolic, GraphStep[]>();
  for (const step of steps) for (const t of step.inputs) consumers.set(t, [...(consumers.get(t) ?? []), step]);
  const only = (t: Symbolic): GraphStep | null => {
    const list = consumers.get(t) ?? [];
    return list.length === 1 && !outputs.includes(t) ? list[0] : null;
  };

  const owned: tf.Tensor[] = [];
  const folded: string[][] = [];
  const skip = new Set<GraphStep>();
  const ops: Op[] = [];
  for (const step of steps) {
    if (skip.has(step)) continue;
    const group = foldable(step, only);
    if (!group) {
      ops.push({ kind: 'layer', step });
      continue;
    }
    const { bnStep, actStep, activation } = group;
    const conv = step.layer as unknown as ConvInternals;
    const depthwise = step.layer.getClassName() === 'DepthwiseConv2D';
    const kernel = (depthwise ? conv.depthwiseKernel! : conv.kernel!).read();
    const { scale, shift } = bnAffine(bnStep.layer as unknown as BnInternals);
    const values = kernel.dataSync();
    const channels = scale.length;
    const w = new Float32Array(values.length);
    // Conv2D kernel [kh, kw, in, out]; depthwise [kh, kw, in, multiplier], output channel in*mult + m:
    // both have the output channel as the flat index modulo the output channel count.
    for (let i = 0; i < values.length; i++) w[i] = values[i] * scale[i % channels];
    const oldBias = conv.useBias && conv.bias ? conv.bias.read().dataSync() : null;
    const b = new Float32Array(channels);
    for (let c = 0; c < channels; c++) b[c] = (oldBias ? oldBias[c] : 0) * scale[c] + shift[c];
    const filter = tf.tensor4d(w, kernel.shape as [number, number, number, number]);
    const bias = tf.tensor1d(b);
    owned.push(filter, bias);
    const strides = conv.strides as [number, number];
    const run = depthwise
      ? (x: tf.Tensor4D) => tf.fused.depthwiseConv2d({ x, filter, strides, pad: conv.padding, dataFormat: 'NHWC', bias, activation })
      : (x: tf.Tensor4D) => tf.fused.conv2d({ x, filter, strides, pad: conv.padding, dataFormat: 'NHWC', bias, activation });
    const last = actStep ?? bnStep;
    skip.add(bnStep);
    if (actStep) skip.add(actStep);
    ops.push({ kind: 'folded', input: step.inputs[0], output: last.outputs[0], run, layers: [step.layer.name, bnStep.layer.name, ...(actStep ? [actStep.layer.name] : [])] });
    folded.push([step.layer.name, bnStep.layer.name, ...(actStep ? [actStep.layer.name] : [])]);
  }

  // Free each intermediate value after its last reader.
  const lastUse = new Map<Symbolic, number>();
  ops.forEach((op, i) => (op.kind === 'layer' ? op.step.inputs : [op.input]).forEach((t) => lastUse.set(t, i)));

  return {
    folded,
    predict(x) {
      return tf.tidy(() => {
        const values = new Map<Symbolic, tf.Tensor>([[graph.input, x]]);
        ops.forEach((op, i) => {
          if (op.kind === 'layer') {
            const result = op.step.layer.apply(op.step.inputs.map((t) => values.get(t)!), { training: false });
            const list = (Array.isArray(result) ? result : [result]) as tf.Tensor[];
            op.step.outputs.forEach((t, k) => values.set(t, list[k]));
          } else {
            values.set(op.output, op.run(values.get(op.input) as tf.Tensor4D));
          }
          for (const t of op.kind === 'layer' ? op.step.inputs : [op.input]) {
            if (lastUse.get(t) === i && t !== graph.input && !outputs.includes(t)) values.get(t)?.dispose();
          }
        });
        return values.get(outputs[0])!;
      });
    },
    dispose() {
      tf.dispose(owned);
    },
  };
}

/** conv -> BN (-> ReLU/ReLU6) starting at `step`, when it can be folded. */
function foldable(step: GraphStep, only: (t: Symbolic) => GraphStep | null): { bnStep: GraphStep; actStep: GraphStep | null; activation: FusedActivation } | null {
  const className = step.layer.getClassName();
  if (className !== 'Conv2D' && className !== 'DepthwiseConv2D') return null;
  const conv = step.layer as unknown as ConvInternals;
  const dilation = Array.isArray(conv.dilationRate) ? conv.dilationRate : [conv.dilationRate];
  if (conv.dataFormat !== 'channelsLast' || dilation.some((d) => d !== 1)) return null;
  if (conv.activation && conv.activation.getClassName().toLowerCase() !== 'linear') return null;
  if (step.inputs.length !== 1 || step.outputs.length !== 1) return null;
  const bnStep = only(step.outputs[0]);
  if (!bnStep || !isBatchNorm(bnStep.layer)) return null;
  const bn = bnStep.layer as unknown as BnInternals;
  if (bn.axis !== -1 && bn.axis !== 3) return null;
  const next = only(bnStep.outputs[0]);
  const activation = next ? activationOf(next) : null;
  return { bnStep, actStep: activation ? next : null, activation: activation ?? 'linear' };
}
