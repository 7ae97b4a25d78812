import { headOnlyPlan, type ModelLayers, type PolicyPlan } from './plan.ts';

/**
 * Everything in the backbone frozen except the BN running statistics: BN layers run in training
 * mode, so they normalise with batch statistics and move their running mean/variance by EMA, while
 * gamma/beta and all conv/dense weights stay fixed. The head trains.
 */
export function bnStatsOnly(layers: ModelLayers): PolicyPlan {
  const plan = headOnlyPlan(
    'bn-stats-only',
    'backbone weights and gamma/beta frozen; BN running statistics follow the data by EMA; head trains',
    layers,
  );
  plan.bnTrainMode = new Set(layers.backboneBnLayers);
  return plan;
}
