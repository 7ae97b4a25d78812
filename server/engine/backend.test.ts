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

describe('training a small convnet on wasm', () => {
  it('runs 20 optimizer steps without leaking tensors or memory', async () => {
    expect(await selectBackend('wasm')).toBe('wasm');
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [12, 12, 3], filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }),
        tf.layers.batchNormalization(),
        tf.layers.reLU(),
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
    const firstLoss = step(); // creates the optimizer's state once
    const before = tf.memory();
    let lastLoss = firstLoss;
    for (let i = 0; i < 20; i++) lastLoss = step();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    expect(Number.isFinite(lastLoss)).toBe(true);
    expect(lastLoss).toBeLessThan(firstLoss); // the gradients actually train the model
    tf.dispose([xs, ys]);
    model.dispose();
  });
});
