import { headOnlyPlan, type ModelLayers, type PolicyPlan } from './plan.ts';

/**
 * Freeze backbone conv/dense weights but keep every BN layer training (fastai `train_bn`): BN
 * normalises with batch statistics, its running statistics follow the data by EMA, and gamma/beta
 * learn. The head trains.
 */
export function trainBn(layers: ModelLayers): PolicyPlan {
  const plan = headOnlyPlan(
    'train-bn',
    'backbone conv/dense frozen; BN layers in training mode (EMA statistics) with gamma/beta learning; head trains',
    layers,
  );
  plan.bnTrainMode = new Set(layers.backboneBnLayers);
  plan.bnAffineTrainable = new Set(layers.backboneBnLayers);
  return plan;
}
