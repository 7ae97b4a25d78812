import { headOnlyPlan, type ModelLayers, type PolicyPlan } from './plan.ts';

/**
 * AdaBN with PreciseBN semantics: before training, every BN layer's running statistics are replaced
 * by the exact population mean and biased variance of its input over the training data, layer by
 * layer with upstream layers already recalibrated (stats/population.ts). Then the backbone is frozen
 * with BN in inference mode and only the head trains.
 */
export function adabn(layers: ModelLayers): PolicyPlan {
  const plan = headOnlyPlan(
    'adabn',
    'BN statistics recomputed exactly on the training data, then backbone frozen with BN in inference mode; head trains',
    layers,
  );
  plan.recalibrateBeforeTraining = true;
  return plan;
}
