"""How much a score moves between runs: the mean over seeds with a Student's t confidence interval.

Fine-tuning on a few hundred labels moves by points from seed to seed, so every comparison warmstart
reports is a mean over seeds with a 95% interval. The t quantile is computed here (exactly, no scipy
and no table), so intervals over 2, 3 or 5 seeds are the textbook ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from warmstart.errors import InputError



def _t_two_sided_mass(theta: float, df: int) -> float:
    """P(|T| <= sqrt(df) tan(theta)) for Student's t with integer df.

    Closed form of Abramowitz & Stegun 26.7.3/26.7.4 (the finite series behind the regularized
    incomplete beta at integer df), so the quantile below needs no scipy and no table.
    """
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 0:
        k = np.arange(1, df // 2)
        coeffs = np.cumprod((2 * k - 1) / (2 * k) * c2) if k.size else np.empty(0)
        return s * (1.0 + float(coeffs.sum()))
    if df == 1:
        return 2.0 * theta / math.pi
    k = np.arange(1, (df - 1) // 2)
    coeffs = np.cumprod((2 * k) / (2 * k + 1) * c2) if k.size else np.empty(0)
    return 2.0 / math.pi * (theta + s * math.cos(theta) * (1.0 + float(coeffs.sum())))


_SERIES_UP_TO = 10_000  # degrees of freedom summed exactly; beyond, an asymptotic expansion


def t_critical(confidence: float, df: int) -> float:
    """Two-sided Student's t critical value: P(|T| <= t) = confidence (e.g. 12.706 for 0.95, df 1).

    Exact up to float precision: bisection on the closed-form CDF above, in the angle
    theta = atan(t / sqrt(df)), which maps t in [0, inf) onto the finite range [0, pi/2);
    above 10,000 degrees of freedom an expansion around the normal quantile takes over.
    """
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must be in (0, 1), got {confidence}")
    if df < 1:
        raise InputError(f"df must be at least 1, got {df}")
    if df > _SERIES_UP_TO:
        # The series would need df/2 terms per step; here the Cornish-Fisher expansion around the
        # normal quantile (A&S 26.7.5) is already exact to float precision (error ~ df**-4).
        z = NormalDist().inv_cdf((1.0 + confidence) / 2.0)
        return (z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
                + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3))
    lo, hi = 0.0, math.pi / 2
    for _ in range(64):  # 64 halvings of pi/2 reach float resolution
        mid = (lo + hi) / 2
        if _t_two_sided_mass(mid, df) < confidence:
            lo = mid
        else:
            hi = mid
    return math.sqrt(df) * math.tan((lo + hi) / 2)


def mean_and_interval(values: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean over runs (e.g. seeds) with a Student's t confidence interval for it.

    Returns ``mean``, ``std`` (sample, ddof=1), ``low``, ``high`` and ``n``.
    NOTE: with n = 1 the spread is unknown: ``std``, ``low`` and ``high`` are NaN, not 0.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise InputError("values is empty: pass the metric of at least one run")
    if not np.all(np.isfinite(v)):
        raise InputError("values holds NaN or infinite entries: drop the failed runs first")
    mean, n = float(v.mean()), int(v.size)
    if n == 1:
        return {"mean": mean, "std": math.nan, "low": math.nan, "high": math.nan, "n": n}
    std = float(v.std(ddof=1))
    half = t_critical(confidence, n - 1) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "low": mean - half, "high": mean + half, "n": n}
