/**
 * Apply a PolicyPlan to a model: trainable flags on weight layers, gamma/beta trainability and mode
 * on BN layers, and an optional BN momentum override. Returns the variables the optimizer updates.
 */
import * as tf from '@tensorflow/tfjs';
import { isBatchNorm, isContainer, leafLayers } from '../model/layers.ts';
import type { BnController } from './bn-control.ts';
import type { PolicyPlan } from '../policies/plan.ts';

export function applyPlan(model: tf.LayersModel, plan: PolicyPlan, bn: BnController, bnMomentumKeras: number | null): tf.Variable[] {
  unlockContainers(model);
  for (const layer of leafLayers(model)) {
    if (isBatchNorm(layer)) {
      layer.trainable = plan.bnAffineTrainable.has(layer.name);
      bn.setMode(layer.name, plan.bnTrainMode.has(layer.name) ? 'train' : 'inference');
    } else if (layer.weights.length > 0) {
      layer.trainable = plan.trainableLayers.has(layer.name);
    }
  }
  if (bnMomentumKeras !== null) bn.setMomentumKeras(bnMomentumKeras);
  return leafLayers(model).flatMap((layer) => layer.trainableWeights.map((w) => w.read() as tf.Variable));
}

/**
 * A container whose own `trainable` is false reports no trainable weights at all, whatever its
 * children say; trainability is decided per leaf here, so containers are marked trainable without
 * touching their children.
 */
function unlockContainers(model: tf.LayersModel) {
  const visit = (layer: tf.layers.Layer) => {
    if (!isContainer(layer)) return;
    (layer as unknown as { trainable_: boolean }).trainable_ = true;
    layer.layers.forEach(visit);
  };
  (model as unknown as { trainable_: boolean }).trainable_ = true;
  model.layers.forEach(visit);
}
