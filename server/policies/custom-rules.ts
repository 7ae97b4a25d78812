import type { PolicyRule } from '../schema/recipe.ts';
import type { ModelLayers, PolicyPlan } from './plan.ts';

/**
 * Custom policy: start from a named plan and apply rules in order; a rule's regular expression is
 * tested against each backbone layer name, and each field it sets (trainable, bnMode, bnAffine)
 * overrides what earlier rules or the base decided for the layers it matches. Head layers always
 * train. A rule that matches no layer is an error: it is almost always a typo.
 */
export function applyRules(base: PolicyPlan, layers: ModelLayers, rules: PolicyRule[]): PolicyPlan {
  const plan: PolicyPlan = {
    ...base,
    name: `custom(${base.name})`,
    trainableLayers: new Set(base.trainableLayers),
    bnTrainMode: new Set(base.bnTrainMode),
    bnAffineTrainable: new Set(base.bnAffineTrainable),
  };
  const weightLayers = new Set(layers.backboneWeightLayers);
  const bnLayers = new Set(layers.backboneBnLayers);
  rules.forEach((rule, index) => {
    let pattern: RegExp;
    try {
      pattern = new RegExp(rule.match);
    } catch (error) {
      throw new Error(`policy.rules.${index}.match: not a valid regular expression (${(error as Error).message})`);
    }
    const matched = [...weightLayers, ...bnLayers].filter((name) => pattern.test(name));
    if (matched.length === 0) throw new Error(`policy.rules.${index}.match: /${rule.match}/ matches no backbone layer`);
    for (const name of matched) {
      if (rule.trainable !== undefined && weightLayers.has(name)) toggle(plan.trainableLayers, name, rule.trainable);
      if (rule.bnMode !== undefined && bnLayers.has(name)) toggle(plan.bnTrainMode, name, rule.bnMode === 'train');
      if (rule.bnAffine !== undefined && bnLayers.has(name)) toggle(plan.bnAffineTrainable, name, rule.bnAffine);
    }
  });
  plan.description = `${base.description}; then ${rules.length} custom rule(s)`;
  return plan;
}

function toggle(set: Set<string>, name: string, on: boolean) {
  if (on) set.add(name);
  else set.delete(name);
}
