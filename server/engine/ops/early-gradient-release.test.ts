import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.ts';
import { earlyGradientReleaseOptions, earlyGradientReleaseStats, installEarlyGradientRelease } from './early-gradient-release.ts';
import { maxRelativeError, seededValues } from '../../../test/support/gradient-check.ts';

const seeded = (seed: number) => tf.initializers.randomNormal({ seed, stddev: 0.3 });

function net() {
  const input = tf.input({ shape: [12, 12, 4] });
  let x = input;
  for (let i = 0; i < 4; i++) {
    x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: i % 2 === 0, kernelInitializer: seeded(i) }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'relu6' }).apply(x) as tf.SymbolicTensor;
  }
  const out = tf.layers.dense({ units: 3, kernelInitializer: seeded(9) }).apply(tf.layers.flatten().apply(x) as tf.SymbolicTensor) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** Identity whose gradient records the live bytes when backprop reaches the network's input side. */
function probe(record: (bytes: number) => void) {
  return tf.customGrad(((x: tf.Tensor) => ({
    value: tf.clone(x),
    gradFunc: (dy: tf.Tensor) => {
      record(tf.memory().numBytes);
      return [tf.clone(dy)];
    },
  })) as never) as (x: tf.Tensor) => tf.Tensor;
}

async function step(model: tf.LayersModel, release: boolean) {
  earlyGradientReleaseOptions.enabled = release;
  let bytesLate = 0;
  const before = tf.memory().numTensors;
  const x = tf.tensor4d(seededValues(4 * 12 * 12 * 4, 3), [4, 12, 12, 4]);
  const inputScale = tf.variable(tf.scalar(1.5), true, `inputScale${release}`); // puts the probe on the gradient path
  const variables = [inputScale, ...model.trainableWeights.map((w) => w.read() as tf.Variable)];
  const { value, grads } = tf.variableGrads(() => {
    const y = model.apply(probe((b) => (bytesLate = b))(tf.mul(x, inputScale)), { training: true }) as tf.Tensor;
    return tf.square(y).sum() as tf.Scalar;
  }, variables);
  const result = { loss: (await value.data()) as Float32Array, grads: Object.fromEntries(await Promise.all(Object.entries(grads).map(async ([k, g]) => [k, (await g.data()) as Float32Array] as const))), bytesLate };
  tf.dispose([x, value, inputScale, ...Object.values(grads)]);
  result.grads = Object.fromEntries(Object.entries(result.grads).map(([k, g]) => [k.replace(/true|false/, ''), g]));
  earlyGradientReleaseOptions.enabled = true;
  return { ...result, leaked: tf.memory().numTensors - before };
}

describe('early gradient release', () => {
  it.each(['cpu', 'wasm'])('on %s: same gradients, less memory alive late in backprop, nothing leaked', async (backend) => {
    await selectBackend(backend);
    installEarlyGradientRelease(); // idempotent
    const model = net();
    const initial = model.layers.map((l) => l.getWeights().map((w) => w.clone()));
    const reset = () => model.layers.forEach((l, i) => l.setWeights(initial[i]));
    reset();
    const kept = await step(model, false);
    reset();
    const released = earlyGradientReleaseStats.releasedTensors;
    const early = await step(model, true);
    expect(earlyGradientReleaseStats.releasedTensors).toBeGreaterThan(released);
    expect(maxRelativeError(early.loss, kept.loss)).toBe(0);
    expect(Object.keys(early.grads).sort()).toEqual(Object.keys(kept.grads).sort());
    for (const [name, g] of Object.entries(kept.grads)) expect(maxRelativeError(early.grads[name], g), name).toBe(0);
    expect(early.bytesLate).toBeLessThan(kept.bytesLate * 0.6);
    expect(early.leaked).toBe(kept.leaked); // releasing early leaves nothing behind either
    tf.dispose(initial.flat());
    model.dispose();
  });

  it('leaves gradients with a caller-supplied dy alone', async () => {
    await selectBackend('cpu');
    const x = tf.tensor1d([1, 2, 3]);
    const dy = tf.tensor1d([1, 1, 2]);
    const released = earlyGradientReleaseStats.releasedTensors;
    const [g] = tf.grads((a: tf.Tensor) => tf.mul(tf.square(a), 2))([x], dy);
    expect(dy.isDisposed).toBe(false);
    expect(Array.from(await g.data())).toEqual([4, 8, 24]);
    expect(earlyGradientReleaseStats.releasedTensors).toBe(released);
    tf.dispose([x, dy, g]);
  });
});
