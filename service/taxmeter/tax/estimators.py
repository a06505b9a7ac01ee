"""Fixed-n estimators computed from sufficient statistics (sums), never from raw samples.

Every function is pure and total: an estimate that is undefined (empty window, one sample)
is ``None``, never NaN.

- :func:`wilson` — Wilson score interval for a proportion.
- :func:`paired_mean_interval` — the interval for the paired quality difference Δ (mean of
  d ∈ [−1, 1]): Tango's score interval when every d is −1, 0 or +1 (:func:`tango_interval`),
  else Student t with a variance floor for non-tied pairs not yet seen (see
  docs/statistics.md for why plain t is not enough at n = 30 with exact ties).
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
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
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


# Counts at or below which Wilson's bound on that side is replaced by the Poisson one.
SMALL_COUNT = 3


@lru_cache(maxsize=64)
def poisson_lower(x: int, level: float) -> float:
    """λ with P(Poisson(λ) ≥ x) = level, for x ≥ 1 (= ½·χ²_{2x}'s ``level`` quantile)."""
    lo, hi = 0.0, float(x)
    while _poisson_sf(x, hi) < level:
        hi *= 2.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if _poisson_sf(x, mid) < level:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def _poisson_sf(x: int, lam: float) -> float:
    """P(Poisson(λ) ≥ x)."""
    term, cdf = math.exp(-lam), 0.0
    for k in range(x):
        cdf += term
        term *= lam / (k + 1)
    return max(0.0, 1.0 - cdf)


def wilson(k: float, n: float, alpha: float) -> Interval | None:
    """Wilson score interval for k successes in n trials, with the small-count correction of
    Brown, Cai & DasGupta (2001, Stat. Sci. 16(2), §4.1.1); ``None`` when n = 0.

    For 1 ≤ k ≤ 3 the lower bound is min(Wilson's, ½·χ²_{2k, α}/n), the Poisson lower bound
    (and symmetrically the upper bound for n − k ≤ 3): when n·p ≲ 1 Wilson's lower bound
    rises above p too soon (p = 0.002, n = 50 covered 90.5 %). BCD use k ≤ 2 up to n = 50;
    k ≤ 3 throughout also covers n = 20, p = 0.05 (92.5 % → 98.4 %; the binomial's
    discreteness allows nothing in between there). See docs/statistics.md.
    """
    if n <= 0:
        return None
    z = z_quantile(1.0 - alpha / 2.0)
    p = min(max(k / n, 0.0), 1.0)
    z2n = z * z / n
    centre = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    kk = round(k)
    if abs(k - kk) < 1e-9:
        if 1 <= kk <= SMALL_COUNT and kk < n:
            low = min(low, poisson_lower(kk, alpha) / n)
        if 1 <= n - kk <= SMALL_COUNT and kk > 0:
            high = max(high, 1.0 - poisson_lower(round(n - kk), alpha) / n)
    return Interval(low, high)


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


def is_ternary(n: float, s2: float, nontie: float, s2_nontie: float) -> bool:
    """Whether every d is −1, 0 or +1, read from the sums (no extra state needed).

    With |d| ≤ 1, Σd² over the non-ties equals their count only when every non-tie is ±1,
    and Σd² over the ties (``s2 − s2_nontie``) is 0 only when every tie is exactly 0. The
    tolerance absorbs floating-point drift of windowed sums (a |d| within 10⁻³ of the grid).
    """
    tol = 1e-9 + 1e-12 * n
    return abs(s2_nontie - nontie) <= tol and abs(s2 - s2_nontie) <= tol


def _tango_score(b: float, c: float, n: float, delta: float) -> float:
    """Tango's score statistic for H0: p₊ − p₋ = δ with b (+1) and c (−1) out of n."""
    if delta < 0.0:
        return -_tango_score(c, b, n, -delta)
    # Restricted MLE of p₋ under p₊ − p₋ = δ: root of A q² + B q + C = 0 (Tango 1998).
    a2 = 2.0 * n
    bb = -b - c + (2.0 * n - b + c) * delta
    cc = -c * delta * (1.0 - delta)
    disc = math.sqrt(max(bb * bb - 4.0 * a2 * cc, 0.0))
    # The stable form of the positive root (no cancellation when bb > 0).
    q = -2.0 * cc / (bb + disc) if bb > 0.0 else (disc - bb) / (2.0 * a2)
    var = n * (2.0 * q + delta * (1.0 - delta))
    num = b - c - n * delta
    if num == 0.0:
        return 0.0
    if var <= 0.0:
        return math.copysign(math.inf, num)
    return num / math.sqrt(var)


def tango_interval(b: float, c: float, n: float, alpha: float) -> Interval | None:
    """Score interval for p₊ − p₋ from a trinomial (matched pairs), Tango (1998).

    ``b`` pairs with d = +1, ``c`` with d = −1, the rest d = 0. The interval is
    {δ : |Z(δ)| ≤ z}, Z the score statistic with the other proportion at its restricted
    MLE; found by bisection (Z decreases in δ). ``None`` when n = 0.
    """
    if n <= 0:
        return None
    z = z_quantile(1.0 - alpha / 2.0)
    est = (b - c) / n

    def root(lo: float, hi: float, target: float) -> float:
        # Z(lo) ≥ target ≥ Z(hi) on the bracket; returns the crossing point.
        for _ in range(60):
            if hi - lo < 1e-10:
                break
            mid = 0.5 * (lo + hi)
            if _tango_score(b, c, n, mid) > target:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    low = -1.0 if _tango_score(b, c, n, -1.0) <= z else root(-1.0, est, z)
    high = 1.0 if _tango_score(b, c, n, 1.0) >= -z else root(est, 1.0, -z)
    return Interval(max(-1.0, min(low, est)), min(1.0, max(high, est)))


def paired_mean_interval(
    n: float,
    s1: float,
    s2: float,
    nontie: float,
    s2_nontie: float,
    alpha: float,
) -> Interval | None:
    """Interval for the mean of paired differences d ∈ [−1, 1]. ``None`` when n < 2.

    * When every d is −1, 0 or +1 (:func:`is_ternary`): Tango's score interval for a
      difference of matched proportions, b = (non-ties + Σd)/2 pairs at +1 and
      c = non-ties − b at −1 (exact: Σd = b − c).
    * Otherwise Student t with the variance floored at ``z² · m2 / (2n) · w``: the
      variance that z²/2 non-tied pairs not yet seen would add (Agresti–Coull's z²/2
      pseudo-successes, for the rare non-tied pairs), with m2 = (Σd²_non-tie + 1)/(non-ties
      + 1) their second moment shrunk towards the range by one pseudo-observation at ±1,
      and w = (ties + 1)/(n + 1) the share of ties, shrunk the same way: unseen non-tied
      pairs can only hide among the ties, so on continuous scores without ties the floor
      all but vanishes (it used to act there at small n, making the interval 2× wider than
      t), yet a sample of a few equal values keeps a width. Clipped to [−1, 1].

    See docs/statistics.md for the simulation that chose this.
    """
    if n < 2:
        return None
    if is_ternary(n, s2, nontie, s2_nontie):
        b = float(round((nontie + s1) / 2.0))
        return tango_interval(b, nontie - b, n, alpha)
    var = sample_variance(n, s1, s2)
    assert var is not None
    z = z_quantile(1.0 - alpha / 2.0)
    m2 = (s2_nontie + 1.0) / (nontie + 1.0)
    tie_share = (max(0.0, n - nontie) + 1.0) / (n + 1.0)
    var = max(var, z * z * m2 / (2.0 * n) * tie_share)
    half = t_quantile(1.0 - alpha / 2.0, int(n) - 1) * math.sqrt(var / n)
    mean = s1 / n
    return Interval(max(-1.0, mean - half), min(1.0, mean + half))
