"""Anytime-valid confidence sequences and the alert (drift) policy.

Empirical-Bernstein confidence sequence of Howard, Ramdas, McAuliffe & Sekhon (2021, Ann.
Statist. 49(2), "Time-uniform, nonparametric, nonasymptotic confidence sequences"),
polynomial-stitched boundary with η = 2, s = 1.4, m = 1 (their closed form, eq. (11)):

    ℓ(V) = ln ln(2·max(V, 1)) + 0.72·ln(5.2 / (α/2))
    u(V) = 1.7·sqrt(max(V, 1)·ℓ(V)) + 3.4·c·ℓ(V)

with V = Σ (x_i − x̄_{i−1})² (predictable centring; x̄_0 = 0), c the width of the range of x,
α/2 per side. Then P(∃ t: |Σx − t·μ| ≥ u(V_t)) ≤ α. The same constants appear in the
PromQL recording rules (docs/statistics.md), where the sums are fleet-wide increases.
"""

from __future__ import annotations

import math

from taxmeter.tax.estimators import Interval


def boundary(v: float, c: float, alpha: float) -> float:
    """u(V): the half-width of the confidence sequence for the *sum*, at variance process V."""
    vv = max(v, 1.0)
    ell = math.log(math.log(2.0 * vv)) + 0.72 * math.log(5.2 / (alpha / 2.0))
    return 1.7 * math.sqrt(vv * ell) + 3.4 * c * ell


def confidence_sequence(
    n: float, total: float, v: float, alpha: float, *, low: float, high: float
) -> Interval | None:
    """(Σx ∓ u(V))/n clipped to [low, high]; ``None`` when n = 0."""
    if n <= 0:
        return None
    u = boundary(v, high - low, alpha)
    return Interval(max(low, (total - u) / n), min(high, (total + u) / n))
