import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerWasmGradientKernels, selectBackend } from './backend.ts';

const GRADIENT_KERNELS = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'];

describe('selectBackend', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('defaults to wasm with the gradient kernels registered', async () => {
    vi.stubEnv('BNLAB_BACKEND', '');
    expect(await selectBackend()).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    for (const name of GRADIENT_KERNELS) expect(tf.getKernel(name, 'wasm')).toBeDefined();
  });

  it('honours an explicit request over BNLAB_BACKEND, and BNLAB_BACKEND over the default', async () => {
    vi.stubEnv('BNLAB_BACKEND', 'cpu');
    expect(await selectBackend()).toBe('cpu');
    expect(await selectBackend('wasm')).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('rejects unknown names and explains a missing tfjs-node', async () => {
    await expect(selectBackend('webgpu')).rejects.toThrow(/Unknown backend 'webgpu'.*wasm, cpu, tensorflow/);
    vi.stubEnv('BNLAB_BACKEND', 'nope');
    await expect(selectBackend()).rejects.toThrow(/BNLAB_BACKEND/);
    let tfjsNodeLoads = true;
    try {
      await import('@tensorflow/tfjs-node' as string);
    } catch {
      tfjsNodeLoads = false;
    }
    if (!tfjsNodeLoads) {
      await expect(selectBackend('tensorflow')).rejects.toThrow(/@tensorflow\/tfjs-node.*--backend wasm.*--backend cpu/s);
    }
  });

  it('registers kernels idempotently, without warnings', () => {
    const warn = vi.spyOn(console, 'warn');
    registerWasmGradientKernels();
    const first = GRADIENT_KERNELS.map((name) => tf.getKernel(name, 'wasm'));
    registerWasmGradientKernels();
    expect(GRADIENT_KERNELS.map((name) => tf.getKernel(name, 'wasm'))).toEqual(first);
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
  });
});

/** conv(stride 2) → BN → ReLU6 → depthwise → BN → ReLU → depthwise(stride 2, valid) → 1×1 conv → BN → GAP → dense. */
function smallConvnet(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [12, 12, 3], filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.activation({ activation: 'relu6' }), // minimum(6, relu(x)), as in Keras MobileNet
      tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.reLU(),
      tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', useBias: false }),
      tf.layers.conv2d({ filters: 6, kernelSize: 1, useBias: false }),
      tf.layers.batchNormalization(),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
}

describe('training a small convnet on wasm', () => {
  it('computes the same weight gradients as the cpu backend (training-mode BN)', async () => {
    const gradientsOn = async (backend: string, weights: Float32Array[] | null) => {
      expect(await selectBackend(backend)).toBe(backend);
      const model = smallConvnet();
      if (weights) model.setWeights(weights.map((w, i) => tf.tensor(w, model.getWeights()[i].shape)));
      const values = await Promise.all(model.getWeights().map((w) => w.data<'float32'>()));
      const xs = tf.tensor4d(Float32Array.from({ length: 6 * 12 * 12 * 3 }, (_, i) => Math.sin(i * 0.7) * 2), [6, 12, 12, 3]);
      const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3);
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar,
      );
      const names = Object.keys(grads).sort();
      const result = { values, grads: await Promise.all(names.map((n) => grads[n].data<'float32'>())), names };
      tf.dispose([value, xs, ys, ...Object.values(grads)]);
      model.dispose();
      return result;
    };
    const reference = await gradientsOn('cpu', null);
    const wasm = await gradientsOn('wasm', reference.values);
    expect(wasm.grads.length).toBe(reference.grads.length);
    expect(wasm.grads.length).toBeGreaterThanOrEqual(9);
    reference.grads.forEach((g, i) => {
      const scale = Math.max(...g.map(Math.abs));
      const diff = Math.max(...g.map((v, k) => Math.abs(v - wasm.grads[i][k])));
      expect(diff / scale, `gradient of weight #${i}`).toBeLessThanOrEqual(1e-4);
    });
  });

  it('runs 20 optimizer steps without leaking tensors or memory', async () => {
    expect(await selectBackend('wasm')).toBe('wasm');
    const model = smallConvnet();
    const optimizer = tf.train.sgd(0.05);
    const xs = tf.randomNormal([6, 12, 12, 3], 0, 1, 'float32', 3);
    const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3);
    const step = () => {
      const loss = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor) as tf.Scalar,
        true,
      );
      const value = loss!.dataSync()[0];
      loss!.dispose();
      return value;
    };
    const heapBytes = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
    const firstLoss = step(); // creates the optimizer's state once
    step();
    const before = tf.memory();
    const heapBefore = heapBytes();
    let lastLoss = firstLoss;
    for (let i = 0; i < 20; i++) lastLoss = step();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    expect(heapBytes()).toBe(heapBefore); // nothing malloc'd and left behind in the wasm heap either
    expect(Number.isFinite(lastLoss)).toBe(true);
    expect(lastLoss).toBeLessThan(firstLoss); // the gradients actually train the model
    tf.dispose([xs, ys]);
    model.dispose();
  });
});
