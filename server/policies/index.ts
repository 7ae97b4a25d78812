/** The policy registry: recipe names (schema/policy-names.ts, the one list) to plan functions. */
import { PRECISE_BN_SUFFIX, splitPreciseBn, UNFREEZE_LAST_PATTERN, POLICY_USAGE, type NamedPolicy } from '../schema/policy-names.ts';
import type { PolicySpec } from '../schema/recipe.ts';
import { adabn } from './adabn.ts';
import { bnStatsOnly } from './bn-stats-only.ts';
import { applyRules } from './custom-rules.ts';
import { freezeAll } from './freeze-all.ts';
import { full } from './full.ts';
import type { ModelLayers, PolicyPlan } from './plan.ts';
import { trainBn } from './train-bn.ts';
import { unfreezeLast } from './unfreeze-last.ts';

const NAMED: Record<NamedPolicy, (layers: ModelLayers) => PolicyPlan> = {
  'freeze-all': freezeAll,
  'train-bn': trainBn,
  'bn-stats-only': bnStatsOnly,
  adabn,
  full,
};

/** Turn a recipe's policy (a name, `unfreeze-last:<n>` or a rule list) into a plan for this model. */
export function resolvePolicy(spec: PolicySpec, layers: ModelLayers): PolicyPlan {
  if (typeof spec !== 'string') return applyRules(resolvePolicy(spec.base ?? 'freeze-all', layers), layers, spec.rules);
  // `<policy>+precise-bn` trains as <policy>; PreciseBN runs after training (train/loop.ts)
  if (spec.endsWith(PRECISE_BN_SUFFIX)) return resolvePolicy(splitPreciseBn(spec).policy, layers);
  const unfreeze = UNFREEZE_LAST_PATTERN.exec(spec);
  if (unfreeze) return unfreezeLast(layers, Number(unfreeze[1]));
  const policy = Object.hasOwn(NAMED, spec) ? NAMED[spec as NamedPolicy] : undefined;
  if (!policy) throw new Error(`unknown policy '${spec}'; use one of ${POLICY_USAGE}`);
  return policy(layers);
}
