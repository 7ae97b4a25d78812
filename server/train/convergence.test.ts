/**
 * The curves are per-epoch train losses printed by real runs (`bnlab train --recipe
 * recipes/mobilenet-v1-ants-bees.json --data $BNLAB_SHARED_DATA/ants-bees --policy freeze-all
 * --epochs 12 --lr <lr>` on 2026-12-01, augmentation on, seed 0).
 */
import { describe, expect, it } from 'vitest';
import { detectConvergence } from './convergence.ts';

const FREEZE_ALL_LR_1E3 = [1.1027, 0.8212, 0.6623, 0.5648, 0.4731, 0.4087, 0.4155, 0.3804, 0.3642, 0.3171, 0.3169, 0.3181];
const FREEZE_ALL_LR_1E3_VAL = [1.0061, 0.8333, 0.7091, 0.6064, 0.579, 0.5259, 0.4975, 0.4672, 0.4494, 0.4389, 0.4182, 0.4071];
// Adam 5e-3, cosine schedule, 10 epochs
const COSINE_TRAIN = [0.9834, 0.5354, 0.3411, 0.3121, 0.3003, 0.2728, 0.2638, 0.2449, 0.2491, 0.2294];
const COSINE_VAL = [1.0536, 0.4224, 0.3739, 0.3486, 0.3714, 0.34, 0.3398, 0.3387, 0.3369, 0.3363];
const FREEZE_ALL_LR_1E2 = [0.7464, 0.4106, 0.3, 0.269, 0.2419, 0.2305, 0.2054, 0.182, 0.2364, 0.1794, 0.1509, 0.1666];

describe('detectConvergence', () => {
  it('flags Adam 1e-3 after 12 epochs: the head is still learning', () => {
    const report = detectConvergence(FREEZE_ALL_LR_1E3);
    expect(report.converged).toBe(false);
    expect(report.relativeSlope!).toBeLessThan(-0.02);
    expect(report.reason).toMatch(/^not converged: train loss -5\.9 % per epoch \(p = 0\.003\) over the last 6 epochs/);
    const withVal = detectConvergence(FREEZE_ALL_LR_1E3, FREEZE_ALL_LR_1E3_VAL);
    expect(withVal.converged).toBe(false);
    expect(withVal.reason).toMatch(/train loss .*, val loss -\d+\.\d % per epoch/);
  });
  it('a falling train loss with a flat val loss is converged: the head only grows its weights', () => {
    expect(detectConvergence(COSINE_TRAIN).converged).toBe(false);
    const report = detectConvergence(COSINE_TRAIN, COSINE_VAL);
    expect(report.converged).toBe(true);
    expect(report.reason).toMatch(/only the train loss still falls/);
  });
  it('the first five epochs of the issue (1.10 → 0.47) are flagged too', () => {
    expect(detectConvergence(FREEZE_ALL_LR_1E3.slice(0, 5)).converged).toBe(false);
  });
  it('does not flag Adam 1e-2: one noisy epoch around a plateau is not a fall', () => {
    const report = detectConvergence(FREEZE_ALL_LR_1E2);
    expect(report.converged).toBe(true);
    expect(report.reason).toMatch(/flat within noise/);
  });
  it('a flat or rising curve is converged; a perfectly straight fall is not', () => {
    expect(detectConvergence([0.5, 0.3, 0.3, 0.3, 0.3, 0.3]).converged).toBe(true);
    expect(detectConvergence([0.5, 0.3, 0.31, 0.32, 0.33]).converged).toBe(true);
    expect(detectConvergence([0.6, 0.5, 0.4]).converged).toBe(false);
  });
  it('a slow steady creep below 2 % per epoch is converged', () => {
    const creep = Array.from({ length: 10 }, (_, i) => 0.3 * (1 - 0.01 * i));
    expect(detectConvergence(creep).converged).toBe(true);
  });
  it('3 epochs falling every epoch are not converged (the fashion recipe as shipped: MobileNetV2, adabn, Adam 1e-3)', () => {
    const report = detectConvergence([2.0873, 1.4946, 1.1856], [1.5311, 1.2804, 1.2009]);
    expect(report.converged).toBe(false);
    // one noisy rise in the window keeps the 1-df test in charge
    expect(detectConvergence([2.0873, 1.1856, 1.4946], [1.5311, 1.2009, 1.2804]).converged).toBe(true);
  });
  it('cannot tell with fewer than 3 epochs', () => {
    expect(detectConvergence([0.9, 0.5])).toMatchObject({ converged: null, relativeSlope: null });
  });
});
