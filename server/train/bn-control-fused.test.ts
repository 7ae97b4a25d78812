/** The BN wrapper (bn-control.ts) in a training step: the fused op gives what tfjs's own path gives. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../engine/backend.ts';
import { batchNormTrainingOptions } from '../engine/ops/batch-norm-training.ts';
import { maxRelativeError, seededValues } from '../../test/support/gradient-check.ts';
import { BnController } from './bn-control.ts';

const values = (shape: number[], seed: number, scale = 1, offset = 0) =>
  tf.tensor(seededValues(tf.util.sizeFromShape(shape), seed).map((v) => v * scale + offset), shape);

/** A conv → BN → dense model; conv makes the BN input depend on trainable weights (no conv bias: BN cancels it, its gradient is 0). */
function convBnModel() {
  const input = tf.input({ shape: [6, 6, 3] });
  const conv = tf.layers.conv2d({ name: 'conv', filters: 12, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tf.initializers.randomNormal({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization({ name: 'bn', momentum: 0.9, gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 2 }), betaInitializer: tf.initializers.randomNormal({ seed: 3 }) }).apply(conv) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(bn) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'head', units: 3, kernelInitializer: tf.initializers.randomNormal({ seed: 4 }) }).apply(flat) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** One training-mode forward/backward through the BN wrapper, fused or tfjs's own path. */
async function layerStep(backend: string, fused: boolean) {
  await tf.setBackend(backend);
  batchNormTrainingOptions.enabled = fused;
  const model = convBnModel();
  const bn = new BnController(model);
  bn.setMode('bn', 'train');
  bn.setCapture(true);
  const x = values([5, 6, 6, 3], 9, 1, 0.5);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => (model.apply(x, { training: true }) as tf.Tensor).square().sum() as tf.Scalar, variables);
  const result: Record<string, Float32Array> = {};
  for (const [name, g] of Object.entries(grads)) result[`grad ${name.replace(/_\d+$/, '')}`] = (await g.data()) as Float32Array;
  const weights = model.getLayer('bn').getWeights();
  ['gamma', 'beta', 'movingMean', 'movingVariance'].forEach((n, i) => (result[n] = weights[i].dataSync() as Float32Array));
  result.capturedMean = (await bn.takeBatchMeans()).get('bn')!;
  result.loss = (await value.data()) as Float32Array;
  tf.dispose([x, value, ...Object.values(grads)]);
  model.dispose();
  batchNormTrainingOptions.enabled = true;
  return result;
}

describe('BN wrapper training step with the fused op', () => {
  it.each(['wasm', 'cpu'])('on %s: loss, gradients, moving statistics and captured mean match the tfjs path', async (backend) => {
    await selectBackend('wasm');
    const reference = await layerStep('cpu', false);
    const fused = await layerStep(backend, true);
    expect(Object.keys(fused).sort()).toEqual(Object.keys(reference).sort());
    expect(Object.keys(reference).filter((k) => k.startsWith('grad')).length).toBe(5); // conv kernel, gamma, beta, head kernel and bias
    for (const key of Object.keys(reference)) {
      expect(maxRelativeError(fused[key], reference[key]), key).toBeLessThanOrEqual(1e-4);
    }
    // the moving statistics moved (momentum 0.9 from 0 / 1)
    expect(Math.max(...Array.from(fused.movingMean).map(Math.abs))).toBeGreaterThan(1e-3);
  });

  it('runs the fused kernels in a training call on wasm, and tfjs\'s path when switched off', async () => {
    await selectBackend('wasm');
    const model = convBnModel();
    const bn = new BnController(model);
    bn.setMode('bn', 'train');
    const x = values([2, 6, 6, 3], 10);
    const kernels = async () => (await tf.profile(() => tf.variableGrads(() => (model.apply(x, { training: true }) as tf.Tensor).sum() as tf.Scalar))).kernelNames;
    const fused = await kernels();
    expect(fused).toContain('BnlabBatchMoments');
    expect(fused).toContain('BnlabBatchNormTrainGrad');
    batchNormTrainingOptions.enabled = false;
    expect(await kernels()).not.toContain('BnlabBatchMoments');
    batchNormTrainingOptions.enabled = true;
    x.dispose();
    model.dispose();
  });
});
