/**
 * Bounds a recipe must meet before the dashboard queues it, so an absurd value is a field-named 400
 * at submit time instead of a worker that runs out of memory (or never ends) later. The schema
 * says what is well-formed; these say what one dashboard job may ask of a worker.
 */
import type { PolicySpec, Recipe } from '../../schema/recipe.ts';
import type { FieldError } from '../../schema/api.ts';

export const SUBMIT_LIMITS = {
  epochs: 1000,
  batchSize: 1024,
  /** pixels per side; the registry's largest backbone input is 224 */
  imageSize: 1024,
  minImageSize: 8,
  maxStepsPerEpoch: 1_000_000,
  headLayers: 8,
  headWidth: 8192,
  rules: 200,
} as const;

/** Every rule pattern of a policy compiled, so an invalid regular expression fails here. */
export function policyErrors(policy: PolicySpec, field: string): FieldError[] {
  if (typeof policy === 'string') return [];
  const out: FieldError[] = [];
  if (policy.rules.length > SUBMIT_LIMITS.rules) out.push({ field: `${field}.rules`, message: `at most ${SUBMIT_LIMITS.rules} rules` });
  policy.rules.forEach((rule, i) => {
    try {
      new RegExp(rule.match);
    } catch (error) {
      out.push({ field: `${field}.rules.${i}.match`, message: `not a valid regular expression: ${(error as Error).message}` });
    }
  });
  return out;
}

export function recipeLimitErrors(recipe: Recipe, prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  const over = (field: string, value: number, max: number, unit = '') => {
    if (value > max) out.push({ field: `${prefix}${field}`, message: `${value} is over the limit of ${max}${unit} for a dashboard job` });
  };
  over('epochs', recipe.epochs, SUBMIT_LIMITS.epochs);
  over('batchSize', recipe.batchSize, SUBMIT_LIMITS.batchSize);
  if (recipe.imageSize !== undefined) {
    over('imageSize', recipe.imageSize, SUBMIT_LIMITS.imageSize, ' pixels');
    if (recipe.imageSize < SUBMIT_LIMITS.minImageSize) out.push({ field: `${prefix}imageSize`, message: `must be at least ${SUBMIT_LIMITS.minImageSize} pixels` });
  }
  if (recipe.maxStepsPerEpoch !== undefined) over('maxStepsPerEpoch', recipe.maxStepsPerEpoch, SUBMIT_LIMITS.maxStepsPerEpoch);
  if (recipe.head.hidden.length > SUBMIT_LIMITS.headLayers) {
    out.push({ field: `${prefix}head.hidden`, message: `at most ${SUBMIT_LIMITS.headLayers} hidden layers` });
  }
  recipe.head.hidden.forEach((width, i) => over(`head.hidden.${i}`, width, SUBMIT_LIMITS.headWidth, ' units'));
  out.push(...policyErrors(recipe.policy, `${prefix}policy`));
  return out;
}
