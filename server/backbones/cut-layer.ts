/**
 * Finding the layer a backbone is cut at, also when it sits inside nested containers (Teachable
 * Machine: Sequential[Sequential[functional model, GAP], Sequential[Dense, Dense]]), and guessing
 * that layer for models that come without a registry entry.
 */
import * as tf from '@tensorflow/tfjs';
import { isContainer } from '../model/layers.ts';

type Layer = tf.layers.Layer;
type SymbolicTensor = tf.SymbolicTensor;

export interface LayerInContainer {
  /** the container (functional or Sequential model) that directly holds `layer` */
  container: tf.LayersModel;
  layer: Layer;
}

/** Every (container, layer) pair, depth first in layer order; containers appear before their contents. */
export function layersWithContainers(model: tf.LayersModel): LayerInContainer[] {
  const out: LayerInContainer[] = [];
  const visit = (container: tf.LayersModel) => {
    for (const layer of container.layers) {
      out.push({ container, layer });
      if (isContainer(layer)) visit(layer);
    }
  };
  visit(model);
  return out;
}

/** The innermost container that directly holds the layer called `name`, or null. */
export function findLayer(model: tf.LayersModel, name: string): LayerInContainer | null {
  return layersWithContainers(model).find((pair) => pair.layer.name === name) ?? null;
}

/** Names of every layer, containers included (for uniqueness checks). */
export function allLayerNames(model: tf.LayersModel): Set<string> {
  return new Set([model.name, ...layersWithContainers(model).map((pair) => pair.layer.name)]);
}

/** Keys of the nodes that belong to a container's own graph; empty when tfjs does not expose them (Sequential). */
export function containerNodeKeys(container: tf.LayersModel): Set<string> {
  const keys = (container as unknown as { containerNodes?: Set<string> }).containerNodes;
  return keys instanceof Set ? keys : new Set();
}

/** Indices of the layer's inbound nodes that are part of `container`'s graph. */
export function nodeIndicesIn(container: tf.LayersModel, layer: Layer): number[] {
  const keys = containerNodeKeys(container);
  const all = layer.inboundNodes.map((_, i) => i);
  if (keys.size === 0) return all;
  return all.filter((i) => keys.has(`${layer.name}_ib-${i}`));
}

/** The symbolic output of `layer` inside `container`'s graph. */
export function outputIn(container: tf.LayersModel, layer: Layer): SymbolicTensor {
  const [index] = nodeIndicesIn(container, layer);
  const output = layer.getOutputAt(index ?? 0);
  if (Array.isArray(output)) throw new Error(`layer ${layer.name} has ${output.length} outputs; a cut layer needs exactly one`);
  return output;
}

/** The layer feeding `layer` in `container`, descending into a container to its output layer. */
function producerOf(pair: LayerInContainer): Layer | null {
  const [index] = nodeIndicesIn(pair.container, pair.layer);
  const node = pair.layer.inboundNodes[index ?? 0];
  let producer: Layer | undefined = node?.inboundLayers[0];
  while (producer && isContainer(producer)) producer = producer.outputLayers[0];
  if (!producer || producer.getClassName() === 'InputLayer') return null;
  return producer;
}

const GLOBAL_POOLING = new Set(['GlobalAveragePooling2D', 'GlobalMaxPooling2D']);

function outputRank(layer: Layer): number {
  const shape = layer.outputShape;
  return Array.isArray(shape[0]) || shape[0] === undefined ? -1 : (shape as (number | null)[]).length;
}

/**
 * Guess where to cut a classification model, in this order:
 * 1. the layer feeding the last global pooling layer (Keras applications, Teachable Machine);
 * 2. the layer feeding the last Flatten;
 * 3. the last layer with a 4-D output whose spatial size is not 1x1;
 * 4. the layer feeding the last Dense (the classifier of an all-dense model).
 */
export function guessCutLayer(model: tf.LayersModel): string {
  const pairs = layersWithContainers(model).filter((pair) => !isContainer(pair.layer));
  const lastFed = (className: (c: string) => boolean): string | null => {
    for (let i = pairs.length - 1; i >= 0; i--) {
      if (!className(pairs[i].layer.getClassName())) continue;
      const producer = producerOf(pairs[i]);
      if (producer) return producer.name;
    }
    return null;
  };
  const byPooling = lastFed((c) => GLOBAL_POOLING.has(c));
  if (byPooling) return byPooling;
  const byFlatten = lastFed((c) => c === 'Flatten');
  if (byFlatten) return byFlatten;
  for (let i = pairs.length - 1; i >= 0; i--) {
    const layer = pairs[i].layer;
    if (outputRank(layer) !== 4) continue;
    const [, h, w] = layer.outputShape as (number | null)[];
    if (h === 1 && w === 1) continue;
    return layer.name;
  }
  const byDense = lastFed((c) => c === 'Dense');
  if (byDense) return byDense;
  throw new Error(`cannot guess where to cut model ${model.name}: no pooling, Flatten, 4-D or Dense layer found; name the cut layer in backbone.json`);
}
