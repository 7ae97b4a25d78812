import { headOnlyPlan, type ModelLayers, type PolicyPlan } from './plan.ts';

/**
 * Freeze the whole backbone: weights and gamma/beta fixed, every BN layer in inference mode with the
 * pretrained running statistics (Keras transfer-learning guide, torchvision FrozenBatchNorm2d).
 * Only the new head trains.
 */
export function freezeAll(layers: ModelLayers): PolicyPlan {
  return headOnlyPlan(
    'freeze-all',
    'backbone frozen; every BN layer normalises with the pretrained running statistics; only the head trains',
    layers,
  );
}
