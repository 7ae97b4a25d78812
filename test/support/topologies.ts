/**
 * Small random-weight models of each topology family a user may bring (no downloads): residual
 * adds with ZeroPadding and ReLU6 (MobileNetV2-like), Concatenate branches with max/average pooling
 * (Inception-like), LeakyReLU + MaxPooling with a class-count 1x1 conv classifier (darknet-like),
 * separable convolutions with swish and a Multiply gate (EfficientNet/Xception-like). Each takes
 * 16x16x3 input and ends in an old 5-way classifier that the cut rule must skip. `writeQuantized`
 * stores a model's weights as uint8, uint16 or float16 in the weights manifest, as
 * `tensorflowjs_converter --quantize_*` does.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

type ST = tf.SymbolicTensor;

export interface TopologyFixture {
  model: tf.LayersModel;
  /** the layer the default cut rule must pick */
  expectedCut: string;
}

const he = (seed: number) => tf.initializers.heNormal({ seed });

/** conv (no bias) + BN; `scale: false` drops gamma, as Keras InceptionV3 builds every BN layer. */
function convBn(x: ST, name: string, filters: number, opts: { kernelSize?: number; strides?: number; padding?: 'same' | 'valid'; seed: number; scale?: boolean }): ST {
  x = tf.layers.conv2d({ name, filters, kernelSize: opts.kernelSize ?? 3, strides: opts.strides ?? 1, padding: opts.padding ?? 'same', useBias: false, kernelInitializer: he(opts.seed) }).apply(x) as ST;
  return tf.layers.batchNormalization({ name: `${name}_bn`, momentum: 0.9, scale: opts.scale ?? true }).apply(x) as ST;
}

/** MobileNetV2-like: ZeroPadding + valid stride-2 conv, ReLU6, depthwise, an inverted residual Add. */
export function residualModel(prefix = 'res'): TopologyFixture {
  const input = tf.input({ shape: [16, 16, 3], name: `${prefix}_input` });
  let x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `${prefix}_pad` }).apply(input) as ST;
  x = convBn(x, `${prefix}_conv1`, 8, { strides: 2, padding: 'valid', seed: 1 });
  x = tf.layers.reLU({ maxValue: 6, name: `${prefix}_relu6_1` }).apply(x) as ST;
  const shortcut = x;
  let y = tf.layers.conv2d({ name: `${prefix}_expand`, filters: 16, kernelSize: 1, useBias: false, kernelInitializer: he(2) }).apply(x) as ST;
  y = tf.layers.batchNormalization({ name: `${prefix}_expand_bn` }).apply(y) as ST;
  y = tf.layers.reLU({ maxValue: 6, name: `${prefix}_expand_relu` }).apply(y) as ST;
  y = tf.layers.depthwiseConv2d({ name: `${prefix}_dw`, kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: he(3) }).apply(y) as ST;
  y = tf.layers.batchNormalization({ name: `${prefix}_dw_bn` }).apply(y) as ST;
  y = tf.layers.reLU({ maxValue: 6, name: `${prefix}_dw_relu` }).apply(y) as ST;
  y = convBn(y, `${prefix}_project`, 8, { kernelSize: 1, seed: 4 });
  x = tf.layers.add({ name: `${prefix}_add` }).apply([shortcut, y]) as ST;
  x = convBn(x, `${prefix}_last`, 12, { kernelSize: 1, seed: 5 });
  x = tf.layers.reLU({ maxValue: 6, name: `${prefix}_out_relu` }).apply(x) as ST;
  x = tf.layers.globalAveragePooling2d({ name: `${prefix}_gap` }).apply(x) as ST;
  const out = tf.layers.dense({ name: `${prefix}_predictions`, units: 5, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }) }).apply(x) as ST;
  return { model: tf.model({ inputs: input, outputs: out, name: `${prefix}_model` }), expectedCut: `${prefix}_out_relu` };
}

/**
 * InceptionV3-like: a stem, then two mixed blocks of parallel conv / max / average pool branches
 * joined by Concatenate; every BN layer has no gamma (`scale: false`), as in Keras InceptionV3.
 */
export function inceptionModel(prefix = 'inc'): TopologyFixture {
  const input = tf.input({ shape: [16, 16, 3], name: `${prefix}_input` });
  let x = convBn(input, `${prefix}_stem`, 8, { strides: 2, padding: 'valid', seed: 1, scale: false });
  x = tf.layers.activation({ activation: 'relu', name: `${prefix}_stem_relu` }).apply(x) as ST;
  let seed = 10;
  const mixed = (block: number, from: ST): ST => {
    const branch = (name: string, k: number, src: ST) => tf.layers.activation({ activation: 'relu', name: `${name}_relu` }).apply(convBn(src, name, 4, { kernelSize: k, seed: seed++, scale: false })) as ST;
    const b1 = branch(`${prefix}_m${block}_1x1`, 1, from);
    const b3 = branch(`${prefix}_m${block}_3x3b`, 3, branch(`${prefix}_m${block}_3x3a`, 1, from));
    const pooledMax = tf.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same', name: `${prefix}_m${block}_maxpool` }).apply(from) as ST;
    const bMax = branch(`${prefix}_m${block}_maxproj`, 1, pooledMax);
    const pooledAvg = tf.layers.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same', name: `${prefix}_m${block}_avgpool` }).apply(from) as ST;
    const bAvg = branch(`${prefix}_m${block}_avgproj`, 1, pooledAvg);
    return tf.layers.concatenate({ axis: -1, name: `${prefix}_mixed${block}` }).apply([b1, b3, bMax, bAvg]) as ST;
  };
  x = mixed(0, x);
  x = mixed(1, x);
  x = tf.layers.globalAveragePooling2d({ name: `${prefix}_avg_pool` }).apply(x) as ST;
  const out = tf.layers.dense({ name: `${prefix}_predictions`, units: 5, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 99 }) }).apply(x) as ST;
  return { model: tf.model({ inputs: input, outputs: out, name: `${prefix}_model` }), expectedCut: `${prefix}_mixed1` };
}

/**
 * Darknet-tiny-like: conv + BN + LeakyReLU + MaxPooling stages, then the classifier as a 1x1
 * convolution with one filter per class, global average pooling and softmax. The cut rule must
 * skip that logits convolution and cut at the last LeakyReLU.
 */
export function darknetModel(prefix = 'dark'): TopologyFixture {
  const input = tf.input({ shape: [16, 16, 3], name: `${prefix}_input` });
  let x: ST = input;
  [8, 12].forEach((filters, i) => {
    x = convBn(x, `${prefix}_conv${i}`, filters, { seed: i + 1 });
    x = tf.layers.leakyReLU({ alpha: 0.1, name: `${prefix}_leaky${i}` }).apply(x) as ST;
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `${prefix}_maxpool${i}` }).apply(x) as ST;
  });
  x = convBn(x, `${prefix}_conv2`, 16, { seed: 3 });
  x = tf.layers.leakyReLU({ alpha: 0.1, name: `${prefix}_leaky2` }).apply(x) as ST;
  x = tf.layers.conv2d({ name: `${prefix}_logits_conv`, filters: 5, kernelSize: 1, kernelInitializer: he(4) }).apply(x) as ST;
  x = tf.layers.globalAveragePooling2d({ name: `${prefix}_gap` }).apply(x) as ST;
  const out = tf.layers.activation({ activation: 'softmax', name: `${prefix}_softmax` }).apply(x) as ST;
  return { model: tf.model({ inputs: input, outputs: out, name: `${prefix}_model` }), expectedCut: `${prefix}_leaky2` };
}

/** Xception/EfficientNet-like: separable convolutions, swish activations and a sigmoid gate joined with Multiply. */
export function separableModel(prefix = 'sep'): TopologyFixture {
  const input = tf.input({ shape: [16, 16, 3], name: `${prefix}_input` });
  let x = convBn(input, `${prefix}_stem`, 8, { strides: 2, seed: 1 });
  x = tf.layers.activation({ activation: 'swish', name: `${prefix}_stem_swish` }).apply(x) as ST;
  x = tf.layers.separableConv2d({ name: `${prefix}_sep1`, filters: 12, kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: he(2), pointwiseInitializer: he(3) }).apply(x) as ST;
  x = tf.layers.batchNormalization({ name: `${prefix}_sep1_bn` }).apply(x) as ST;
  const features = tf.layers.activation({ activation: 'swish', name: `${prefix}_sep1_swish` }).apply(x) as ST;
  // x * sigmoid(x): swish written as a gate, the way EfficientNet's squeeze-excite multiplies
  const gate = tf.layers.activation({ activation: 'sigmoid', name: `${prefix}_gate` }).apply(features) as ST;
  x = tf.layers.multiply({ name: `${prefix}_gated` }).apply([features, gate]) as ST;
  x = tf.layers.separableConv2d({ name: `${prefix}_sep2`, filters: 16, kernelSize: 3, strides: 2, padding: 'same', useBias: false, depthwiseInitializer: he(4), pointwiseInitializer: he(5) }).apply(x) as ST;
  x = tf.layers.batchNormalization({ name: `${prefix}_sep2_bn` }).apply(x) as ST;
  x = tf.layers.activation({ activation: 'swish', name: `${prefix}_top_swish` }).apply(x) as ST;
  x = tf.layers.globalAveragePooling2d({ name: `${prefix}_gap` }).apply(x) as ST;
  const out = tf.layers.dense({ name: `${prefix}_predictions`, units: 5, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 6 }) }).apply(x) as ST;
  return { model: tf.model({ inputs: input, outputs: out, name: `${prefix}_model` }), expectedCut: `${prefix}_top_swish` };
}

export const TOPOLOGIES = { residual: residualModel, inception: inceptionModel, darknet: darknetModel, separable: separableModel } as const;
export type TopologyName = keyof typeof TOPOLOGIES;

/**
 * Give every BatchNormalization layer non-default running statistics and gamma/beta (seeded), so
 * recalibration and drift have something to change and inference differs from training mode.
 */
export function randomizeBatchNorm(model: tf.LayersModel, seed = 0): void {
  let n = seed;
  const visit = (layers: tf.layers.Layer[]) => {
    for (const layer of layers) {
      const inner = (layer as unknown as { layers?: tf.layers.Layer[] }).layers;
      if (Array.isArray(inner)) visit(inner);
      if (layer.getClassName() !== 'BatchNormalization') continue;
      // getWeights() returns the variables' own tensors: read, never disposed here
      // variable names end in _<n> when a model with the same layer names was built before
      const names = layer.weights.map((w) => w.name.split('/').pop()!.replace(/_\d+$/, ''));
      const shape = layer.getWeights()[0].shape;
      const range: Record<string, [number, number]> = { gamma: [0.8, 1.2], beta: [-0.2, 0.2], moving_mean: [-0.5, 0.5], moving_variance: [0.5, 2] };
      const values = names.map((w) => tf.randomUniform(shape, ...(range[w] ?? [0, 1]), 'float32', n++));
      layer.setWeights(values);
      values.forEach((t) => t.dispose());
    }
  };
  visit(model.layers);
}

export type QuantizationDtype = 'uint8' | 'uint16' | 'float16';

/** float32 -> IEEE half bits (round to nearest even), for float16 weight files. */
function toHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  let mantissa = bits & 0x7fffff;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa = (mantissa | 0x800000) >> (1 - exponent);
    return sign | ((mantissa + 0x1000) >> 13);
  }
  if (exponent >= 31) return sign | 0x7c00;
  const rounded = (exponent << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  return sign | (rest > 0x1000 || (rest === 0x1000 && (rounded & 1)) ? rounded + 1 : rounded);
}

/**
 * Write `model` as model.json + weights.bin with every float32 weight stored as `dtype` (the
 * manifest's `quantization` field: affine uint8/uint16 with scale and min, or float16), the
 * format tfjs' converter writes and `tf.io.decodeWeights` reads back.
 */
export async function writeQuantized(model: tf.LayersModel, dir: string, dtype: QuantizationDtype): Promise<void> {
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const saved = artifacts as unknown as tf.io.ModelArtifacts;
  const decoded = tf.io.decodeWeights(saved.weightData as ArrayBuffer, saved.weightSpecs!);
  const chunks: Uint8Array[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const spec of saved.weightSpecs!) {
    const values = decoded[spec.name].dataSync() as Float32Array;
    if (dtype === 'float16') {
      const half = Uint16Array.from(values, toHalf);
      chunks.push(new Uint8Array(half.buffer));
      specs.push({ ...spec, quantization: { dtype: 'float16' } });
    } else {
      const levels = dtype === 'uint8' ? 255 : 65535;
      let min = Infinity;
      let max = -Infinity;
      for (const v of values) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
      const scale = max > min ? (max - min) / levels : 1;
      const q = dtype === 'uint8' ? new Uint8Array(values.length) : new Uint16Array(values.length);
      values.forEach((v, i) => (q[i] = Math.round((v - min) / scale)));
      chunks.push(new Uint8Array(q.buffer));
      specs.push({ ...spec, quantization: { dtype, scale, min } });
    }
  }
  Object.values(decoded).forEach((t) => t.dispose());
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(chunks));
  const json = { modelTopology: saved.modelTopology, format: 'layers-model', generatedBy: 'bnlab test (quantized)', weightsManifest: [{ paths: ['weights.bin'], weights: specs }] };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
}
