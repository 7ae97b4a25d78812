/**
 * "Not converged": was the training loss still falling when the run stopped? A comparison of
 * policies whose heads are still learning measures under-training, not the policies.
 *
 * Rule (on the per-epoch mean train loss, which averages every step of the epoch):
 *   take the last k = max(3, ceil(E / 2)) epochs, fit a least-squares line loss ≈ a + b · epoch;
 *   relative slope r = b / mean(loss over those epochs);
 *   NOT converged when r < -2 % per epoch AND the fall is significant: the one-sided t-test of
 *   b < 0 (t = b / se(b), k - 2 degrees of freedom) has p < 0.05.
 * Both parts matter: with augmentation the epoch loss jitters by ±10–20 % (a single noisy epoch
 * must not flag a flat curve), and a loss that keeps creeping down by 0.5 % an epoch is as good as
 * converged for a comparison. Fewer than 3 epochs: converged is null (cannot tell).
 * Measured on ants-bees (MobileNet v1 α0.25, freeze-all, 12 epochs): Adam 1e-3 gives r = -5.9 %,
 * p = 0.003 (flagged); Adam 1e-2 gives r = -5.3 %, p = 0.10 (noise around a plateau; not flagged).
 */
import type { ConvergenceReport } from '../schema.ts';
import { studentTCdf } from '../stats/student-t.ts';

export const CONVERGENCE_MIN_EPOCHS = 3;
export const CONVERGENCE_SLOPE_THRESHOLD = -0.02;
export const CONVERGENCE_P = 0.05;

export function detectConvergence(epochTrainLoss: number[]): ConvergenceReport {
  const E = epochTrainLoss.length;
  if (E < CONVERGENCE_MIN_EPOCHS) {
    return { converged: null, relativeSlope: null, reason: `${E} epoch(s): too few to tell (needs ${CONVERGENCE_MIN_EPOCHS})` };
  }
  const k = Math.max(CONVERGENCE_MIN_EPOCHS, Math.ceil(E / 2));
  const y = epochTrainLoss.slice(E - k);
  if (y.some((v) => !Number.isFinite(v))) return { converged: null, relativeSlope: null, reason: 'non-finite train loss' };
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
  const pct = (relativeSlope * 100).toFixed(1);
  const over = `over the last ${k} epochs`;
  if (relativeSlope < CONVERGENCE_SLOPE_THRESHOLD && p < CONVERGENCE_P) {
    return { converged: false, relativeSlope, reason: `not converged: train loss still falling ${pct} % per epoch ${over} (p = ${p.toFixed(3)}); train longer or raise the learning rate` };
  }
  return { converged: true, relativeSlope, reason: `train loss ${pct} % per epoch ${over} (p = ${p.toFixed(3)} for a fall): flat within noise` };
}
