/**
 * "Not converged": was the loss still falling when the run stopped? A comparison of policies whose
 * heads are still learning measures under-training, not the policies.
 *
 * Rule, on per-epoch losses (the epoch's mean train loss over all its steps, and the val loss):
 *   take the last k = max(3, ceil(E / 2)) epochs and fit a least-squares line loss ≈ a + b · epoch;
 *   relative slope r = b / mean(loss over those epochs); a curve is "still falling" when
 *   r < -2 % per epoch AND the fall is significant: the one-sided t-test of b < 0
 *   (t = b / se(b), k - 2 degrees of freedom) has p < 0.05; for a 3-epoch window (E <= 6),
 *   whose 1-df test hardly ever reaches p < 0.05 even for 2.09 → 1.49 → 1.19, a window that
 *   falls every epoch counts as significant too (chance 1/6 under noise).
 *   NOT converged when the train loss is still falling and so is the val loss (when given).
 * Why both parts of the slope test: with augmentation the epoch loss jitters by 10–20 %, and a
 * single noisy epoch must not flag a flat curve; a loss creeping down 0.5 % an epoch is converged
 * for a comparison. Why the val loss too: the train loss of a head on fixed features keeps falling
 * as its weights grow, long after what it has learned stops generalising better. Measured on
 * ants-bees (MobileNet v1 α0.25, freeze-all, seed 0): Adam 5e-3 with a cosine schedule, 10 epochs:
 * train loss -4.0 % per epoch (p = 0.007) over the last 5 epochs while the val loss went
 * 0.3400 → 0.3363 (flat): converged. Adam 1e-3 constant, 12 epochs: train loss -5.9 % per epoch
 * (p = 0.003) and val loss 0.4975 → 0.4071 (falling): not converged.
 * Fewer than 3 epochs: converged is null (cannot tell).
 */
import type { ConvergenceReport } from '../schema/events.ts';
import { studentTCdf } from '../stats/student-t.ts';

export const CONVERGENCE_MIN_EPOCHS = 3;
export const CONVERGENCE_SLOPE_THRESHOLD = -0.02;
export const CONVERGENCE_P = 0.05;

interface Trend {
  falling: boolean;
  relativeSlope: number;
  p: number;
  k: number;
}

/** Least-squares trend of the last max(3, ceil(E / 2)) values; null with non-finite values. */
export function lossTrend(losses: number[]): Trend | null {
  const E = losses.length;
  const k = Math.max(CONVERGENCE_MIN_EPOCHS, Math.ceil(E / 2));
  const y = losses.slice(E - k);
  if (y.length < CONVERGENCE_MIN_EPOCHS || y.some((v) => !Number.isFinite(v))) return null;
  const xMean = (k - 1) / 2;
  const yMean = y.reduce((a, b) => a + b, 0) / k;
  let sxx = 0;
  let sxy = 0;
  y.forEach((v, x) => {
    sxx += (x - xMean) ** 2;
    sxy += (x - xMean) * (v - yMean);
  });
  const slope = sxy / sxx;
  const residual = y.reduce((a, v, x) => a + (v - (yMean + slope * (x - xMean))) ** 2, 0);
  const se = Math.sqrt(residual / (k - 2) / sxx);
  const relativeSlope = yMean > 0 ? slope / yMean : 0;
  // one-sided p of "falling"; a perfectly straight falling line has se = 0 and p = 0
  const p = se > 0 ? studentTCdf(slope / se, k - 2) : slope < 0 ? 0 : 1;
  // a 3-epoch window (runs of up to 6 epochs) has a 1-df t-test that hardly reaches p < 0.05;
  // there a strictly decreasing window counts as significant (chance 1/3! = 1/6 under noise)
  const decreasing = k === CONVERGENCE_MIN_EPOCHS && y.every((v, i) => i === 0 || v < y[i - 1]!);
  return { falling: relativeSlope < CONVERGENCE_SLOPE_THRESHOLD && (p < CONVERGENCE_P || decreasing), relativeSlope, p, k };
}

const describe = (name: string, t: Trend) => `${name} loss ${(t.relativeSlope * 100).toFixed(1)} % per epoch (p = ${t.p.toFixed(3)})`;

/** `valLoss` (same epochs) is optional: without it the train loss alone decides. */
export function detectConvergence(epochTrainLoss: number[], epochValLoss?: number[]): ConvergenceReport {
  const E = epochTrainLoss.length;
  if (E < CONVERGENCE_MIN_EPOCHS) {
    return { converged: null, relativeSlope: null, reason: `${E} epoch(s): too few to tell (needs ${CONVERGENCE_MIN_EPOCHS})` };
  }
  const train = lossTrend(epochTrainLoss);
  if (!train) return { converged: null, relativeSlope: null, reason: 'non-finite train loss' };
  const val = epochValLoss ? lossTrend(epochValLoss) : null;
  const over = `over the last ${train.k} epochs`;
  const parts = [describe('train', train), ...(val ? [describe('val', val)] : [])].join(', ');
  if (train.falling && (val === null || val.falling)) {
    return { converged: false, relativeSlope: train.relativeSlope, reason: `not converged: ${parts} ${over}, still falling; train longer or raise the learning rate` };
  }
  return { converged: true, relativeSlope: train.relativeSlope, reason: `${parts} ${over}: ${train.falling ? 'only the train loss still falls' : 'flat within noise'}` };
}
