/** Run ids, shared by the CLI, the comparison runner and the dashboard queue (no tfjs import here). */
import { policyName } from '../policies/resolve.ts';
import type { PolicySpec } from '../schema.ts';

/** Run id of one policy inside a comparison: `<comparisonId>-<policy name, file-name safe>`. */
export function comparisonRunId(comparisonId: string, policy: PolicySpec): string {
  return `${comparisonId}-${policyName(policy).replace(/[^A-Za-z0-9_.-]+/g, '_')}`;
}
