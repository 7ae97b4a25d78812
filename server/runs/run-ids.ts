/** Run ids, shared by the CLI, the comparison runner and the dashboard queue (no tfjs import here). */
import { randomBytes } from 'node:crypto';
import { policyName } from '../schema/policy-names.ts';
import type { PolicySpec } from '../schema/recipe.ts';

/**
 * `<prefix>-YYYYMMDD-HHMMSS` (UTC), e.g. `train-20261201-093012`; with `unique`, 4 random hex
 * digits follow, for servers that may start two runs in one second.
 */
export function timestampRunId(prefix: string, { unique = false, now = new Date() } = {}): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return unique ? `${prefix}-${stamp}-${randomBytes(2).toString('hex')}` : `${prefix}-${stamp}`;
}

/** Run id of one policy inside a comparison: `<comparisonId>-<policy name, file-name safe>`. */
export function comparisonRunId(comparisonId: string, policy: PolicySpec): string {
  return `${comparisonId}-${policyName(policy).replace(/[^A-Za-z0-9_.-]+/g, '_')}`;
}
