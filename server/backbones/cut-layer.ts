/**
 * Finding the layer a backbone is cut at, also when it sits inside nested containers (Teachable
 * Machine: Sequential[Sequential[functional model, GAP], Sequential[Dense, Dense]]), the default
 * cut for models whose registry entry / backbone.json / --cut names none, and the layer table
 * `bnlab layers` prints.
 *
 * The default cut rule (defaultCutLayer): the last spatial feature layer before global pooling,
 * Flatten or the classifier. In order: the layer feeding the last global pooling layer, else the
 * one feeding the last Flatten, else the last layer with a 4-D output that is not 1x1, else the
 * layer feeding the last Dense. A darknet-style classifier (a 1x1 Conv2D with one filter per
 * output class, followed only by parameter-free layers such as activations, pooling, softmax or
 * reshape) is skipped: the cut moves to that convolution's input, so the new head never sits on
 * the old class scores.
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

function outputShapeOf(layer: Layer): (number | null)[] | null {
  const shape = layer.outputShape;
  return Array.isArray(shape[0]) || shape[0] === undefined ? null : (shape as (number | null)[]);
}

function isSpatial(layer: Layer): boolean {
  const shape = outputShapeOf(layer);
  return shape !== null && shape.length === 4 && !(shape[1] === 1 && shape[2] === 1);
}

/** Width of the model's (first) output: the number of classes of a classifier. */
function outputWidth(model: tf.LayersModel): number | null {
  const shape = model.outputs[0]?.shape;
  const last = shape?.[shape.length - 1];
  return typeof last === 'number' ? last : null;
}

/** Layers with one input that only pass values through a fixed function (activations, dropout). */
const PASS_THROUGH = new Set(['Activation', 'ReLU', 'LeakyReLU', 'ELU', 'Softmax', 'ThresholdedReLU', 'Dropout']);

/**
 * A darknet-style classifier: a 1x1 Conv2D whose filters equal the model's output width (its
 * class count), possibly followed by activations, with only parameter-free layers (pooling,
 * softmax, reshape, flatten, dropout) between it and the model's output.
 */
function isClassCountConv(pairs: LayerInContainer[], index: number, classes: number | null): boolean {
  const layer = pairs[index].layer;
  if (layer.getClassName() !== 'Conv2D' || classes === null) return false;
  const config = layer.getConfig() as { filters?: number; kernelSize?: number | number[] };
  const kernel = Array.isArray(config.kernelSize) ? config.kernelSize : [config.kernelSize, config.kernelSize];
  if (config.filters !== classes || kernel[0] !== 1 || kernel[1] !== 1) return false;
  return pairs.slice(index + 1).every((pair) => pair.layer.countParams() === 0);
}

/**
 * `pairs[start]`, unless it is (or follows, through pass-through layers only) a class-count
 * convolution: then that convolution's producer (null when it has none).
 */
function skipClassifier(pairs: LayerInContainer[], start: number, classes: number | null): Layer | null {
  let index = start;
  while (index >= 0) {
    const pair = pairs[index];
    if (isClassCountConv(pairs, index, classes)) return producerOf(pair);
    if (!PASS_THROUGH.has(pair.layer.getClassName())) break;
    const producer = producerOf(pair);
    if (!producer) break;
    index = pairs.findIndex((p) => p.layer === producer);
  }
  return pairs[start].layer;
}

/**
 * The default cut: the last spatial feature layer before global pooling, Flatten or the classifier.
 *   1. The layer feeding the last global pooling layer (Keras applications, Teachable Machine),
 *      else the layer feeding the last Flatten.
 *   2. Else the last layer with a 4-D output that is not 1x1 (a model that ends in features).
 *   3. Else the layer feeding the last Dense (the classifier of an all-dense model).
 * In 1 and 2 a darknet-style classifier is skipped: when the chosen layer is (or follows, through
 * activations only) a 1x1 convolution whose filter count equals the model's output width and
 * after which only parameter-free layers (pooling, softmax, reshape) remain, the cut moves to
 * that convolution's input, so the new head never sits on the old class scores.
 */
export function defaultCutLayer(model: tf.LayersModel): string {
  const pairs = layersWithContainers(model).filter((pair) => !isContainer(pair.layer));
  const classes = outputWidth(model);
  const indexOf = (layer: Layer) => pairs.findIndex((p) => p.layer === layer);
  const lastFed = (className: (c: string) => boolean): Layer | null => {
    for (let i = pairs.length - 1; i >= 0; i--) {
      if (!className(pairs[i].layer.getClassName())) continue;
      const producer = producerOf(pairs[i]);
      if (producer) return producer;
    }
    return null;
  };
  const fed = lastFed((c) => GLOBAL_POOLING.has(c)) ?? lastFed((c) => c === 'Flatten');
  if (fed) {
    const cut = skipClassifier(pairs, indexOf(fed), classes);
    if (cut) return cut.name;
  }
  for (let i = pairs.length - 1; i >= 0; i--) {
    if (!isSpatial(pairs[i].layer)) continue;
    const cut = skipClassifier(pairs, i, classes);
    if (cut && isSpatial(cut)) return cut.name;
  }
  const byDense = lastFed((c) => c === 'Dense');
  if (byDense) return byDense.name;
  throw new Error(`cannot find where to cut model ${model.name}: no pooling, Flatten, 4-D or Dense layer found; name the cut layer with --cut or in backbone.json`);
}

/** One row of `bnlab layers`. */
export interface LayerRow {
  name: string;
  className: string;
  /** output shape without the batch axis, e.g. [7, 7, 256]; null for multi-output layers */
  outputShape: (number | null)[] | null;
  params: number;
  /** names of the containers holding it, outermost first (empty at top level) */
  containers: string[];
  batchNorm: boolean;
  /** the default cut (defaultCutLayer) */
  defaultCut: boolean;
  /** the cut in use (a stated one, or the default) */
  cut: boolean;
  /** names of the layers feeding it in its container's graph */
  inputs: string[];
}

/** Every leaf layer with its output shape, BN flag and whether it is the default / chosen cut. */
export function layerTable(model: tf.LayersModel, cutInUse?: string): LayerRow[] {
  const defaultCut = (() => {
    try {
      return defaultCutLayer(model);
    } catch {
      return null;
    }
  })();
  const rows: LayerRow[] = [];
  const visit = (container: tf.LayersModel, path: string[]) => {
    for (const layer of container.layers) {
      if (isContainer(layer)) {
        visit(layer, [...path, layer.name]);
        continue;
      }
      const [index] = nodeIndicesIn(container, layer);
      const node = layer.inboundNodes[index ?? 0];
      const shape = outputShapeOf(layer);
      rows.push({
        name: layer.name,
        className: layer.getClassName(),
        outputShape: shape ? shape.slice(1) : null,
        params: layer.countParams(),
        containers: path,
        batchNorm: layer.getClassName() === 'BatchNormalization',
        defaultCut: layer.name === defaultCut,
        cut: layer.name === (cutInUse ?? defaultCut),
        inputs: (node?.inboundLayers ?? []).map((l) => l.name).filter((n) => n !== layer.name),
      });
    }
  };
  visit(model, []);
  return rows;
}
