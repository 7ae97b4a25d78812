import type { PolicySpec } from '../schema.ts';
import { adabn } from './adabn.ts';
import { bnStatsOnly } from './bn-stats-only.ts';
import { applyRules } from './custom-rules.ts';
import { freezeAll } from './freeze-all.ts';
import { full } from './full.ts';
import type { ModelLayers, PolicyPlan } from './plan.ts';
import { trainBn } from './train-bn.ts';
import { unfreezeLast } from './unfreeze-last.ts';

const NAMED: Record<string, (layers: ModelLayers) => PolicyPlan> = {
  'freeze-all': freezeAll,
  'train-bn': trainBn,
  'bn-stats-only': bnStatsOnly,
  adabn,
  full,
};

/** Turn a recipe's policy (a name, `unfreeze-last:<n>` or a rule list) into a plan for this model. */
export function resolvePolicy(spec: PolicySpec, layers: ModelLayers): PolicyPlan {
  if (typeof spec !== 'string') return applyRules(resolvePolicy(spec.base ?? 'freeze-all', layers), layers, spec.rules);
  const unfreeze = /^unfreeze-last:(\d+)$/.exec(spec);
  if (unfreeze) return unfreezeLast(layers, Number(unfreeze[1]));
  const policy = NAMED[spec];
  if (!policy) throw new Error(`unknown policy '${spec}'; known: ${Object.keys(NAMED).join(', ')}, unfreeze-last:<n>, or { "rules": [...] }`);
  return policy(layers);
}

/** Short display name of a policy spec, e.g. for run ids and tables. */
export function policyName(spec: PolicySpec): string {
  return typeof spec === 'string' ? spec : `custom-${spec.base ?? 'freeze-all'}`;
}
