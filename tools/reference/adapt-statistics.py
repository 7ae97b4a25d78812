"""Reference numbers for server/stats/prior-mix.test.ts and target-statistics.test.ts (numpy, float64).

Run: python3 tools/reference/adapt-statistics.py   (the pyenv python3 with numpy)

1. mixWithPrior on small arrays: Schneider et al. 2020, Eq. 2,
   w = N / (N + n); mean = w mu_s + (1 - w) mu_t; var = w var_s + (1 - w) var_t.
2. adaptStatistics on a tiny network: input [n, 4, 4, 2] -> BN a -> 1x1 conv (kernel K, no bias)
   -> BN b, with the data x[i,h,w,c] = sin(1.3 i + 0.7 h + 0.3 w + 1.1 c) * (c + 1) + 0.5 c.
   With prior N: BN a gets the mix of its source statistics and the population statistics of x;
   BN b gets the mix of its source statistics and the population statistics of K applied to BN a's
   output computed WITH BN a's mixed statistics. Biased variances (divide by the count).
"""
import json
import numpy as np

np.set_printoptions(precision=10)

def mix(mu_s, var_s, mu_t, var_t, N, n):
    w = N / (N + n)
    return w * mu_s + (1 - w) * mu_t, w * var_s + (1 - w) * var_t

out = {}
mu_s = np.array([0.5, -1.0, 2.0]); var_s = np.array([1.0, 4.0, 0.25])
mu_t = np.array([1.5, 0.0, -2.0]); var_t = np.array([2.0, 1.0, 0.5])
m, v = mix(mu_s, var_s, mu_t, var_t, 16, 48)
out['mix_16_48'] = {'mean': m.tolist(), 'variance': v.tolist()}
m, v = mix(mu_s, var_s, mu_t, var_t, 0, 10)
out['mix_0_10'] = {'mean': m.tolist(), 'variance': v.tolist()}

n = 5
i, h, w, c = np.meshgrid(np.arange(n), np.arange(4), np.arange(4), np.arange(2), indexing='ij')
x = np.sin(1.3 * i + 0.7 * h + 0.3 * w + 1.1 * c) * (c + 1) + 0.5 * c
eps = 1e-3
gamma_a = np.array([1.5, 0.5]); beta_a = np.array([0.1, -0.2])
src_a_mean = np.array([2.0, -1.0]); src_a_var = np.array([3.0, 0.5])
K = np.array([[1.0, -0.5, 0.25], [0.5, 2.0, -1.0]])  # [in=2, out=3]
src_b_mean = np.array([0.3, 0.0, -0.4]); src_b_var = np.array([1.0, 2.0, 0.7])
prior_n = 3.0

def population(t):
    flat = t.reshape(-1, t.shape[-1])
    return flat.mean(0), flat.var(0)  # biased

for name, N in [('target_only', None), ('prior_3', prior_n)]:
    pa_m, pa_v = population(x)
    a_m, a_v = (pa_m, pa_v) if N is None else mix(src_a_mean, src_a_var, pa_m, pa_v, N, n)
    y = gamma_a * (x - a_m) / np.sqrt(a_v + eps) + beta_a
    z = y @ K
    pb_m, pb_v = population(z)
    b_m, b_v = (pb_m, pb_v) if N is None else mix(src_b_mean, src_b_var, pb_m, pb_v, N, n)
    out[name] = {'bn_a': {'mean': a_m.tolist(), 'variance': a_v.tolist()}, 'bn_b': {'mean': b_m.tolist(), 'variance': b_v.tolist()}}

print(json.dumps(out, indent=1))
