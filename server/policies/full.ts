import { headOnlyPlan, type ModelLayers, type PolicyPlan } from './plan.ts';

/** Full fine-tune: every weight trains, every BN layer in training mode with gamma/beta learning. */
export function full(layers: ModelLayers): PolicyPlan {
  const plan = headOnlyPlan('full', 'every layer trains; BN layers in training mode (EMA statistics)', layers);
  for (const name of layers.backboneWeightLayers) plan.trainableLayers.add(name);
  plan.bnTrainMode = new Set(layers.backboneBnLayers);
  plan.bnAffineTrainable = new Set(layers.backboneBnLayers);
  return plan;
}
