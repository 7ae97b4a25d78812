import { freezeAll } from './freeze-all.ts';
import type { ModelLayers, PolicyPlan } from './plan.ts';

/**
 * Partial fine-tune: the last `units` weight layers of the backbone (conv, depthwise or dense, each
 * with the BN layers that follow it up to the next weight layer) train, BN of those units in
 * training mode with gamma/beta learning; everything earlier stays as in freeze-all. In MobileNet v1
 * a depthwise-separable block is two units (conv_dw_N + conv_pw_N), so `unfreeze-last:2` is its last
 * block.
 */
export function unfreezeLast(layers: ModelLayers, units: number): PolicyPlan {
  if (!Number.isInteger(units) || units < 1) throw new Error(`unfreeze-last needs a positive whole number of units, got ${units}`);
  const plan = freezeAll(layers);
  plan.name = `unfreeze-last:${units}`;
  const weightLayers = new Set(layers.backboneWeightLayers);
  const bnLayers = new Set(layers.backboneBnLayers);
  const backbone = layers.allLayers.filter((name) => !layers.headLayers.includes(name));
  const unitStarts = backbone.map((name, index) => (weightLayers.has(name) ? index : -1)).filter((i) => i >= 0);
  const firstUnfrozen = unitStarts[Math.max(0, unitStarts.length - units)] ?? backbone.length;
  for (const name of backbone.slice(firstUnfrozen)) {
    if (weightLayers.has(name)) plan.trainableLayers.add(name);
    if (bnLayers.has(name)) {
      plan.bnTrainMode.add(name);
      plan.bnAffineTrainable.add(name);
    }
  }
  const count = Math.min(units, unitStarts.length);
  plan.description = `last ${count} backbone unit(s) train from ${backbone[firstUnfrozen] ?? '(none)'} on, their BN in training mode; earlier layers frozen with pretrained BN statistics; head trains`;
  return plan;
}
