import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { loadBackbone } from '../backbones/load.ts';
import { loadConfig } from '../config.ts';
import { DEMO_BACKBONE_DIR } from '../demo/backbone-files.ts';
import { foldedPredictor } from './folded-inference.ts';

const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });

/** conv(+bias)-BN-ReLU6, depthwise-BN-ReLU, a residual add after a BN without activation, a conv feeding two layers (not folded). */
function buildModel(): tf.LayersModel {
  const input = tf.input({ shape: [9, 9, 3] });
  const a = tf.layers.conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same', useBias: true, name: 'c1', kernelInitializer: seeded(1), biasInitializer: tf.initializers.randomNormal({ seed: 9 }) }).apply(input) as tf.SymbolicTensor;
  const a1 = tf.layers.reLU({ maxValue: 6, name: 'r1' }).apply(tf.layers.batchNormalization({ name: 'b1' }).apply(a)) as tf.SymbolicTensor;
  const d = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, name: 'd1', depthwiseInitializer: seeded(2) }).apply(a1) as tf.SymbolicTensor;
  const d1 = tf.layers.activation({ activation: 'relu', name: 'r2' }).apply(tf.layers.batchNormalization({ name: 'b2', scale: false }).apply(d)) as tf.SymbolicTensor;
  const p = tf.layers.conv2d({ filters: 6, kernelSize: 1, useBias: false, name: 'p1', kernelInitializer: seeded(3) }).apply(d1) as tf.SymbolicTensor;
  const p1 = tf.layers.batchNormalization({ name: 'b3' }).apply(p) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'add' }).apply([a1, p1]) as tf.SymbolicTensor;
  const shared = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'shared', kernelInitializer: seeded(4) }).apply(sum) as tf.SymbolicTensor;
  const s1 = tf.layers.batchNormalization({ name: 'b4' }).apply(shared) as tf.SymbolicTensor;
  const both = tf.layers.concatenate({ name: 'cat' }).apply([s1, shared]) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(both) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'out', kernelInitializer: seeded(5) }).apply(pooled) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  let seed = 20;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    layer.setWeights(layer.getWeights().map((w, i, all) => {
      const n = w.shape[0];
      const isVariance = i === all.length - 1;
      return isVariance ? tf.randomUniform([n], 0.2, 4, 'float32', seed++) : tf.randomNormal([n], i === all.length - 2 ? 0.5 : 1, 0.5, 'float32', seed++);
    }));
  }
  return model;
}

function maxRelativeError(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (Math.abs(b[i]) + 1e-6));
  return worst;
}

describe.each(['cpu', 'wasm'])('folded BN inference on %s', (backend) => {
  beforeAll(async () => {
    expect(await tf.setBackend(backend)).toBe(true);
  });

  it('folds conv/depthwise + BN (+ ReLU/ReLU6), leaves a shared conv alone, and matches predict to float32 rounding', () => {
    const model = buildModel();
    const x = tf.randomNormal([5, 9, 9, 3], 0, 1, 'float32', 7);
    const folded = foldedPredictor(model);
    expect(folded.folded).toEqual([['c1', 'b1', 'r1'], ['d1', 'b2', 'r2'], ['p1', 'b3']]);
    const before = tf.memory().numTensors;
    const got = folded.predict(x);
    expect(tf.memory().numTensors).toBe(before + 1);
    const expected = model.predict(x) as tf.Tensor;
    expect(maxRelativeError(got.dataSync() as Float32Array, expected.dataSync() as Float32Array)).toBeLessThan(1e-5);
    tf.dispose([x, got, expected]);
    folded.dispose();
    model.dispose();
  });

  it.skipIf(!fs.existsSync(path.join(DEMO_BACKBONE_DIR, 'model.json')))('on the demo backbone: every conv/BN/ReLU block folded, same probabilities to 1e-5', async () => {
    const { model } = await loadBackbone('demo', loadConfig());
    const x = tf.randomUniform([8, 64, 64, 3], -1, 1, 'float32', 3);
    const folded = foldedPredictor(model);
    expect(folded.folded.length).toBe(11);
    const got = folded.predict(x);
    const expected = model.predict(x) as tf.Tensor;
    expect(maxRelativeError(got.dataSync() as Float32Array, expected.dataSync() as Float32Array)).toBeLessThan(1e-5);
    tf.dispose([x, got, expected]);
    folded.dispose();
    model.dispose();
  });
});
