import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { LayerGraph, UnsupportedGraphError, type GraphStep } from './layer-graph.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function residual() {
  const input = tf.input({ shape: [4, 4, 2] });
  const conv = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', name: 'conv', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) });
  const a = conv.apply(input) as tf.SymbolicTensor;
  const b = tf.layers.batchNormalization({ name: 'bn' }).apply(a) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'add' }).apply([input, b]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, name: 'dense', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(tf.layers.flatten().apply(sum)) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: input, outputs: out }), a };
}

describe('LayerGraph', () => {
  it('runs the model from its input, bit-identical to predict and apply', () => {
    const { model } = residual();
    const graph = new LayerGraph(model);
    const steps = graph.stepsFor(model.outputs, new Set());
    expect(steps.map((s) => s.layer.name)).toEqual(['conv', 'bn', 'add', model.layers[4]!.name, 'dense']);
    const x = tf.randomNormal([3, 4, 4, 2], 0, 1, 'float32', 3);
    const values = tf.tidy(() => LayerGraph.run(steps, new Map([[graph.input, x]]), { training: false }).get(graph.canonical(model.outputs[0]))!.clone());
    expect(Array.from(values.dataSync())).toEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()));
  });

  it('continues from an intermediate tensor, running only the steps not done yet', () => {
    const { model, a } = residual();
    const graph = new LayerGraph(model);
    const done = new Set<GraphStep>();
    const first = graph.stepsFor([a], done);
    const rest = graph.stepsFor(model.outputs, done);
    expect(first.map((s) => s.layer.name)).toEqual(['conv']);
    expect(rest.map((s) => s.layer.name)).toContain('add');
    expect(rest.map((s) => s.layer.name)).not.toContain('conv');
    const x = tf.randomNormal([2, 4, 4, 2], 0, 1, 'float32', 4);
    const out = tf.tidy(() => {
      const hidden = LayerGraph.run(first, new Map([[graph.input, x]]), { training: false }).get(a)!;
      return LayerGraph.run(rest, new Map([[graph.input, x], [a, hidden]]), { training: false }).get(graph.canonical(model.outputs[0]))!;
    });
    expect(Array.from(out.dataSync())).toEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()));
  });

  it('expands a functional model applied inside another, and refuses one applied twice', () => {
    const innerInput = tf.input({ shape: [3] });
    const inner = tf.model({ inputs: innerInput, outputs: tf.layers.dense({ units: 3, name: 'inner_dense' }).apply(innerInput) as tf.SymbolicTensor });
    const input = tf.input({ shape: [3] });
    const once = tf.model({ inputs: input, outputs: inner.apply(input) as tf.SymbolicTensor });
    const graph = new LayerGraph(once);
    expect(graph.stepsFor(once.outputs, new Set()).map((s) => s.layer.name)).toEqual(['inner_dense']);
    const twice = tf.model({ inputs: input, outputs: inner.apply(inner.apply(input)) as tf.SymbolicTensor });
    expect(() => new LayerGraph(twice).stepsFor(twice.outputs, new Set())).toThrow(UnsupportedGraphError);
  });
});
