/**
 * TENT's plan (Wang et al., "Tent: Fully Test-Time Adaptation by Entropy Minimization", ICLR 2021,
 * github.com/DequanWang/tent `configure_model`): every BatchNorm layer normalises with batch
 * statistics and learns its gamma/beta; nothing else trains, the classifier head included. Not a
 * training-recipe policy (it has no labelled data to train a head on): `adapt --method tent` uses it.
 */
import { type ModelLayers, type PolicyPlan } from './plan.ts';

export function tentPlan(layers: ModelLayers): PolicyPlan {
  const bn = [...layers.backboneBnLayers];
  if (bn.length === 0) throw new Error('TENT adapts BatchNorm gamma/beta, and this model has no BatchNormalization layers');
  return {
    name: 'tent',
    description: 'BN layers use batch statistics and learn gamma/beta by entropy minimisation; every other weight is frozen',
    trainableLayers: new Set(),
    bnTrainMode: new Set(bn),
    bnAffineTrainable: new Set(bn),
    recalibrateBeforeTraining: false,
  };
}
