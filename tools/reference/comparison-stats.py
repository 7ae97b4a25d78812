"""Reference numbers for server/stats/{student-t,seed-summary,paired-verdict}.test.ts.

Independent of bnlab's TypeScript: numpy for the arithmetic, scipy.stats.t for the distribution.
Run with the pyenv python3 (numpy + scipy 1.17):  python3 tools/reference/comparison-stats.py
The tests quote this script's output; change both together.
"""
import json

import numpy as np
import scipy
from scipy import stats


def seed_summary(values):
    v = np.asarray(values, dtype=float)
    n = len(v)
    sd = v.std(ddof=1)
    lo, hi = stats.t.interval(0.95, n - 1, loc=v.mean(), scale=sd / np.sqrt(n))
    return {"mean": v.mean(), "sd": sd, "ci95": [lo, hi]}


def paired_verdict(a_bits, b_bits):
    a = np.array([[int(c) for c in row] for row in a_bits], dtype=float)
    b = np.array([[int(c) for c in row] for row in b_bits], dtype=float)
    d = a - b                      # seeds x images
    S, N = d.shape
    seed_term = d.mean(axis=1).var(ddof=1) / S if S > 1 else 0.0
    image_term = d.mean(axis=0).var(ddof=1) / N
    v = seed_term + image_term
    df = v**2 / ((seed_term**2 / (S - 1) if S > 1 else 0.0) + image_term**2 / (N - 1))
    se = np.sqrt(v)
    diff = d.mean()
    t = diff / se
    p = 2 * stats.t.sf(abs(t), df)
    half = stats.t.ppf(0.975, df) * se
    return {"difference": diff, "standardError": se, "df": df, "t": t, "pValue": p, "ci95": [diff - half, diff + half]}


def bits(matrix):
    return ["".join(str(int(x)) for x in row) for row in matrix]


out = {"scipy": scipy.__version__}
out["t_quantiles"] = {f"{p}@{df}": stats.t.ppf(p, df) for p, df in [(0.975, 1), (0.975, 2), (0.975, 4), (0.975, 9), (0.975, 152), (0.975, 7.3), (0.9, 3.5), (0.025, 4)]}
out["t_cdf"] = {f"{t}@{df}": stats.t.cdf(t, df) for t, df in [(0.5, 1), (2.0, 4), (-1.3, 9), (3.1, 17.42), (0.0, 5)]}
out["seed_summary"] = {
    "five": seed_summary([0.719, 0.745, 0.797, 0.837, 0.771]),
    "two": seed_summary([0.5, 0.6]),
}
# A small hand-made case: 3 seeds x 10 images.
small_a = ["1101101110", "1111001110", "1101101011"]
small_b = ["1001100110", "1101000111", "0101101010"]
out["paired_small"] = {"a": small_a, "b": small_b, **paired_verdict(small_a, small_b)}
# A realistic case: 5 seeds x 60 images, A about 6 points better than B, seed effects on both.
rng = np.random.default_rng(20261201)
hard = rng.uniform(0.0, 1.0, size=60)
def draw(skill, seed_sd):
    rows = []
    for s in range(5):
        shift = rng.normal(0, seed_sd)
        rows.append(rng.uniform(size=60) < np.clip(skill + shift - 0.5 * hard + 0.25, 0, 1))
    return bits(np.array(rows))
big_a = draw(0.83, 0.04)
big_b = draw(0.77, 0.04)
out["paired_five"] = {"a": big_a, "b": big_b, **paired_verdict(big_a, big_b)}
# A clear case: A about 25 points better.
clear_a = draw(0.92, 0.03)
clear_b = draw(0.67, 0.03)
out["paired_clear"] = {"a": clear_a, "b": clear_b, **paired_verdict(clear_a, clear_b)}
# One seed: the image term only.
one_a = [big_a[0]]
one_b = [big_b[0]]
out["paired_one"] = {"a": one_a, "b": one_b, **paired_verdict(one_a, one_b)}

print(json.dumps(out, indent=1, default=float))
