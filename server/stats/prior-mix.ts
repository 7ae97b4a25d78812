/**
 * Source/target mixing of BatchNorm statistics with a pseudo sample size (Schneider et al. 2020,
 * "Improving robustness against common corruptions by covariate shift adaptation", NeurIPS, Eq. 2):
 *   w        = N / (N + n)        N: pseudo sample size of the source statistics (--prior),
 *                                 n: number of target images the target statistics come from
 *   mean     = w * mean_s + (1 - w) * mean_t
 *   variance = w * var_s  + (1 - w) * var_t
 * Both variances are the biased ones tfjs stores (divide by the count). The variance is mixed
 * linearly, exactly as Schneider et al. do; this is NOT the variance of the pooled sample, which
 * would add w (1 - w) (mean_s - mean_t)^2. N = 0 gives the target statistics, N -> Inf the source.
 * Computed in float64, rounded to float32 once.
 */
export interface Moments {
  mean: Float32Array;
  variance: Float32Array;
}

export function mixWithPrior(source: Moments, target: Moments, priorN: number, targetN: number): Moments {
  if (!(priorN >= 0) || !Number.isFinite(priorN)) throw new RangeError(`prior sample size N must be a finite number >= 0, got ${priorN}`);
  if (!(targetN > 0)) throw new RangeError(`target sample size n must be > 0, got ${targetN}`);
  const channels = source.mean.length;
  if (target.mean.length !== channels || source.variance.length !== channels || target.variance.length !== channels) {
    throw new RangeError(`source has ${channels} channels, target ${target.mean.length}`);
  }
  const w = priorN / (priorN + targetN);
  const mean = new Float32Array(channels);
  const variance = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    mean[c] = w * source.mean[c] + (1 - w) * target.mean[c];
    variance[c] = w * source.variance[c] + (1 - w) * target.variance[c];
  }
  return { mean, variance };
}
