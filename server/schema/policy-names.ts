/**
 * The one list of policy names. The recipe schema, the policy registry (policies/index.ts, typed
 * against it so the two cannot drift), the CLI help and the dashboard form all derive from here.
 */

/** Named policies, with the one-line description the CLI and the dashboard show. */
export const NAMED_POLICIES = {
  'freeze-all': 'backbone frozen, BN in inference mode with pretrained statistics',
  'train-bn': 'backbone frozen except BN: statistics follow the data (EMA), γ/β train',
  'bn-stats-only': 'only the BN running statistics update (EMA)',
  adabn: 'recompute BN statistics on the data before training, then freeze',
  full: 'everything trains',
} as const;

export type NamedPolicy = keyof typeof NAMED_POLICIES;
export const POLICY_NAMES = Object.keys(NAMED_POLICIES) as NamedPolicy[];

/** `unfreeze-last:<n>`: the last n units of the backbone learn. */
export const UNFREEZE_LAST_PREFIX = 'unfreeze-last:';
export const UNFREEZE_LAST_PATTERN = /^unfreeze-last:([1-9][0-9]*)$/;

/**
 * `<policy>+precise-bn`: the policy, then PreciseBN (recipe `preciseBn: true`: BN population
 * statistics recomputed over the training data after training). A spec variant rather than a
 * per-policy recipe override because a comparison is a list of specs everywhere (queue, manifest,
 * worker IPC, run ids): the variant travels through all of them unchanged, gets its own run id and
 * table row, and is read in two places only (policies/index.ts ignores it for the plan, training
 * turns it into `preciseBn`: see `splitPreciseBn`).
 */
export const PRECISE_BN_SUFFIX = '+precise-bn';

const escape = (name: string) => name.replace(/[-]/g, '\\-');
export const NAMED_POLICY_PATTERN = new RegExp(`^(${POLICY_NAMES.map(escape).join('|')}|unfreeze-last:[1-9][0-9]*)(\\+precise-bn)?$`);
export const POLICY_USAGE = `${POLICY_NAMES.join(', ')}, ${UNFREEZE_LAST_PREFIX}<n> (any of them${PRECISE_BN_SUFFIX} to add PreciseBN), or { "rules": [...] }`;

/** A named spec without its `+precise-bn` suffix, and whether it had one. */
export function splitPreciseBn(spec: string): { policy: string; preciseBn: boolean } {
  return spec.endsWith(PRECISE_BN_SUFFIX) ? { policy: spec.slice(0, -PRECISE_BN_SUFFIX.length), preciseBn: true } : { policy: spec, preciseBn: false };
}

/** Short display name of a policy spec (for run ids and tables): the name, or `custom-<base>`. */
export function policyName(spec: string | { base?: string }): string {
  return typeof spec === 'string' ? spec : `custom-${spec.base ?? 'freeze-all'}`;
}
