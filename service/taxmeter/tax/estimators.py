"""Fixed-n estimators computed from sufficient statistics (sums), never from raw samples.

Every function is pure and total: an estimate that is undefined (empty window, one sample)
is ``None``, never NaN.

- :func:`wilson` — Wilson score interval for a proportion.
- :func:`paired_mean_interval` — the interval for the paired quality difference Δ (mean of
  d ∈ [−1, 1]): Student t with a *Wilson floor on the variance* for non-tied pairs not yet
  seen (see docs/statistics.md for why plain t is not enough at n = 30 with exact ties).
- :func:`t_quantile` — Student-t quantile (exact, by bisection on the incomplete beta).
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist
from typing import NamedTuple


class Interval(NamedTuple):
    low: float
    high: float


@lru_cache(maxsize=64)
def z_quantile(p: float) -> float:
    """Standard normal quantile."""
    return NormalDist().inv_cdf(p)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return h


def _betai(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student-t CDF."""
    x = df / (df + t * t)
    tail = 0.5 * _betai(df / 2.0, 0.5, x)
    return 1.0 - tail if t > 0 else tail


@lru_cache(maxsize=4096)
def t_quantile(p: float, df: int) -> float:
    """Student-t quantile for ``0.5 < p < 1``, ``df ≥ 1`` (cached: one per window size)."""
    if df > 100_000:
        return z_quantile(p)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10:
            break
    return 0.5 * (lo + hi)


def proportion(k: float, n: float) -> float | None:
    return k / n if n > 0 else None


def wilson(k: float, n: float, alpha: float) -> Interval | None:
    """Wilson score interval for k successes in n trials; ``None`` when n = 0."""
    if n <= 0:
        return None
    z = z_quantile(1.0 - alpha / 2.0)
    p = min(max(k / n, 0.0), 1.0)
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def sample_variance(n: float, s1: float, s2: float) -> float | None:
    """Unbiased variance from n, Σx, Σx² (clamped at 0 against rounding); None when n < 2."""
    if n < 2:
        return None
    return max(0.0, (s2 - s1 * s1 / n) / (n - 1.0))


def t_interval(n: float, s1: float, s2: float, alpha: float) -> Interval | None:
    """Plain Student-t interval for a mean (reference only; not used for Δ, see below)."""
    var = sample_variance(n, s1, s2)
    if var is None:
        return None
    half = t_quantile(1.0 - alpha / 2.0, int(n) - 1) * math.sqrt(var / n)
    mean = s1 / n
    return Interval(mean - half, mean + half)


def paired_mean_interval(
    n: float,
    s1: float,
    s2: float,
    nontie: float,
    s2_nontie: float,
    alpha: float,
    *,
    half_range: float = 1.0,
) -> Interval | None:
    """Interval for the mean of paired differences d ∈ [−half_range, half_range].

    Student t, with the variance floored at ``(p_hi − p̂) · m2``: p̂ = nontie/n is the share of
    non-tied pairs (|d| > tie ε), p_hi its Wilson upper bound, and m2 the second moment of
    the non-tied d's shrunk towards the range (one pseudo-observation at ±half_range). The
    floor stands for non-tied pairs that a small sample may not have shown yet; it vanishes
    as n grows or when no pair ties. Clipped to the range. ``None`` when n < 2.
    """
    var = sample_variance(n, s1, s2)
    if var is None:
        return None
    p_hat = min(max(nontie / n, 0.0), 1.0)
    bound = wilson(nontie, n, alpha)
    assert bound is not None
    m2 = (s2_nontie + half_range * half_range) / (nontie + 1.0)
    var = max(var, (bound.high - p_hat) * m2)
    half = t_quantile(1.0 - alpha / 2.0, int(n) - 1) * math.sqrt(var / n)
    mean = s1 / n
    return Interval(max(-half_range, mean - half), min(half_range, mean + half))
