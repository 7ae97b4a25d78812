/**
 * A new classification head on a pretrained backbone. The backbone is cut at its entry's cut layer
 * (inside whichever nested container holds it) and the head is applied to that layer's symbolic
 * output, so the classifier shares the pretrained layer objects and their weights: nothing is
 * copied, and what a policy freezes or a BN layer learns is seen by every model built here.
 */
import * as tf from '@tensorflow/tfjs';
import type { HeadConfig } from '../schema/recipe.ts';
import { allLayerNames, findLayer, outputIn } from './cut-layer.ts';
import type { LoadedBackbone } from './load.ts';

export interface Classifier {
  /** image -> class probabilities (softmax) */
  model: tf.LayersModel;
  /** image -> pooled features (the head's input) */
  featureModel: tf.LayersModel;
  /** names of the layers added by bnlab, in order (pooling, hidden, dropout, output) */
  headLayerNames: string[];
}

/** Per-layer initialiser seed: a fixed mix of the run seed and the layer index (32-bit). */
export function layerSeed(seed: number, index: number): number {
  return (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
}

/** 'bnlab_head', or 'bnlab_head2', 3, ... if the backbone already has layers under that prefix. */
export function headPrefix(taken: Set<string>): string {
  for (let n = 1; ; n++) {
    const prefix = n === 1 ? 'bnlab_head' : `bnlab_head${n}`;
    if (![...taken].some((name) => name === prefix || name.startsWith(`${prefix}_`))) return prefix;
  }
}

function uniqueName(base: string, taken: Set<string>): string {
  let name = base;
  for (let n = 2; taken.has(name); n++) name = `${base}_${n}`;
  taken.add(name);
  return name;
}

/**
 * Cut `backbone` at `backbone.entry.cutLayer`, pool 4-D features with GlobalAveragePooling2D
 * (flatten other ranks above 2), then add `head.hidden` Dense+ReLU layers, each followed by
 * Dropout(head.dropout) when dropout > 0 (with no hidden layers the dropout acts on the pooled
 * features), and a Dense(numClasses) softmax output. Kernels are Glorot-uniform from `seed`,
 * biases zero, so the same seed gives the same head.
 */
export function buildClassifier(backbone: LoadedBackbone, numClasses: number, head: HeadConfig, seed: number): Classifier {
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new Error(`a classifier needs at least 2 classes, got ${numClasses}`);
  if (head.hidden.some((units) => !Number.isInteger(units) || units < 1)) throw new Error(`head.hidden must be positive integers, got ${JSON.stringify(head.hidden)}`);
  if (!(head.dropout >= 0 && head.dropout < 1)) throw new Error(`head.dropout must be in [0, 1), got ${head.dropout}`);
  const cut = backbone.entry.cutLayer;
  const found = findLayer(backbone.model, cut);
  if (!found) throw new Error(`cut layer '${cut}' not found in backbone ${backbone.name}`);
  const inputs = found.container.inputs;
  const cutOutput = outputIn(found.container, found.layer);

  const taken = allLayerNames(backbone.model);
  const prefix = headPrefix(taken);
  const headLayerNames: string[] = [];
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor): tf.SymbolicTensor => {
    headLayerNames.push(layer.name);
    return layer.apply(x) as tf.SymbolicTensor;
  };
  let layerIndex = 0;
  const dense = (units: number, activation: 'relu' | 'softmax', name: string) =>
    tf.layers.dense({
      units,
      activation,
      name: uniqueName(name, taken),
      kernelInitializer: tf.initializers.glorotUniform({ seed: layerSeed(seed, layerIndex++) }),
      biasInitializer: 'zeros',
    });
  const dropout = (name: string) => tf.layers.dropout({ rate: head.dropout, seed: layerSeed(seed, layerIndex++), name: uniqueName(name, taken) });

  const rank = cutOutput.shape.length;
  let features = cutOutput;
  if (rank === 4) features = apply(tf.layers.globalAveragePooling2d({ name: uniqueName(`${prefix}_pool`, taken) }), features);
  else if (rank !== 2) features = apply(tf.layers.flatten({ name: uniqueName(`${prefix}_flatten`, taken) }), features);

  let x = features;
  head.hidden.forEach((units, i) => {
    x = apply(dense(units, 'relu', `${prefix}_hidden${i + 1}`), x);
    if (head.dropout > 0) x = apply(dropout(`${prefix}_dropout${i + 1}`), x);
  });
  if (head.hidden.length === 0 && head.dropout > 0) x = apply(dropout(`${prefix}_dropout`), x);
  const probabilities = apply(dense(numClasses, 'softmax', `${prefix}_out`), x);

  const featureModel = tf.model({ inputs, outputs: features, name: uniqueName('bnlab_features', taken) });
  const model = tf.model({ inputs, outputs: probabilities, name: uniqueName('bnlab_classifier', taken) });
  return { model, featureModel, headLayerNames };
}
