/**
 * A policy is a pure function from the model's layers to a PolicyPlan: which weight layers train,
 * which BatchNorm layers run in training mode (batch statistics + EMA update of the running
 * statistics) and which BN layers learn their affine gamma/beta. The new classification head always
 * trains; policies govern the pretrained backbone.
 *
 * Semantics are bnlab's own, stated explicitly because frameworks disagree: in tfjs,
 * `trainable = false` on a BN layer only freezes gamma/beta and the layer still updates its running
 * statistics in `fit`; Keras 2+ puts such a layer in inference mode; PyTorch needs `.eval()`.
 * bnlab never relies on `trainable` for BN mode: `bnTrainMode` is enforced per layer (train/bn-control.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import { isBatchNorm, leafLayers } from '../model/layers.ts';

export interface PolicyPlan {
  name: string;
  /** one sentence: what trains and which BN statistics are used */
  description: string;
  /** non-BN layers whose weights train */
  trainableLayers: Set<string>;
  /** BN layers that normalise with batch statistics and update their running statistics */
  bnTrainMode: Set<string>;
  /** BN layers whose gamma/beta train */
  bnAffineTrainable: Set<string>;
  /** recompute exact population statistics over the training data before training */
  recalibrateBeforeTraining: boolean;
}

/** The layers a policy decides about, split by role. */
export interface ModelLayers {
  /** backbone layers with weights that are not BN (conv, depthwise, dense), in topological order */
  backboneWeightLayers: string[];
  /** backbone BN layers, in topological order */
  backboneBnLayers: string[];
  /** the new head's layers: always trainable */
  headLayers: string[];
  /** every leaf layer name in topological order, backbone then head */
  allLayers: string[];
}

export function describeLayers(model: tf.LayersModel, headLayerNames: Iterable<string>): ModelLayers {
  const head = new Set(headLayerNames);
  const layers = leafLayers(model);
  const backbone = layers.filter((layer) => !head.has(layer.name));
  return {
    backboneWeightLayers: backbone.filter((l) => !isBatchNorm(l) && l.weights.length > 0).map((l) => l.name),
    backboneBnLayers: backbone.filter(isBatchNorm).map((l) => l.name),
    headLayers: layers.filter((l) => head.has(l.name)).map((l) => l.name),
    allLayers: layers.map((l) => l.name),
  };
}

/** Plan skeleton shared by every policy: only the head trains, BN in inference mode. */
export function headOnlyPlan(name: string, description: string, layers: ModelLayers): PolicyPlan {
  return {
    name,
    description,
    trainableLayers: new Set(layers.headLayers),
    bnTrainMode: new Set(),
    bnAffineTrainable: new Set(),
    recalibrateBeforeTraining: false,
  };
}
