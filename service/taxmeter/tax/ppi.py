"""Prediction-powered estimates from sums: the judge on every pair, a reference on a sample.

Each measure is a ratio θ = E[a]/E[b] over complete pairs, with a the reference label's
numerator (e.g. "over-refusal" = guarded refuses ∧ unguarded does not ∧ unguarded safe) and
b its denominator indicator (e.g. "eligible" = unguarded safe; b ≡ 1 for a plain rate).
The judge's versions are fa, fb. The audited pairs are a uniform random subsample (by a hash
of the request id) of the N complete pairs. From sums only:

    θ̂ = [ā − λ(f̄a − F̄a)] / [b̄ − λ(f̄b − F̄b)]

with bars the means over the n audited pairs and F̄ the judge's means over all N pairs:
the judge's estimate on all pairs plus the mean rectifier (reference − judge) on the audited
ones (Angelopoulos et al., Science 2023), λ = 1; λ tuned for power as in PPI++ (Angelopoulos,
Duchi & Zrnic 2023): λ̂ = Cov(ψ, φ)/Var(φ), clipped to [0, 1], with ψ = a − θb and
φ = fa − θfb the linearised reference and judge terms. Since the audited pairs are a subset
of the N, the variance is the two-phase (double sampling) form

    Var ≈ [Var(ψ)/n − (2λ·Cov(ψ, φ) − λ²·Var(φ))·(1/n − 1/N) + z²/2/((n + z²)·n)] / b̄²

(λ = 0 is the audit-only estimate; a perfect judge gives the judge-only variance Var(φ)/N);
the last term is z²/2 pseudo-pairs of disagreement (Agresti–Coull), for small audits and
rare disagreements. The interval is θ̂ ± z·√Var, clipped to the measure's range.

The anytime-valid counterpart (:func:`ppi_confidence_sequence`) is a union bound over
empirical-Bernstein confidence sequences (``tax/cs.py``) for the judge's mean over all pairs
and the rectifier's mean over the audited pairs, for the numerator and (unless b ≡ 1) the
denominator, α split evenly: valid at every time, conservative.

Every function is pure and total: ``None`` when undefined (too few audited pairs, b̄ = 0).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from taxmeter.tax.cs import boundary
from taxmeter.tax.estimators import Interval, z_quantile

# The audited second moments kept per measure, in layout order.
MOMENTS = (
    "a",
    "b",
    "fa",
    "fb",
    "aa",
    "bb",
    "fafa",
    "fbfb",
    "ab",
    "afa",
    "afb",
    "bfa",
    "bfb",
    "fafb",
)


class RatioSums(NamedTuple):
    """Sufficient statistics of one measure (all fleet-additive)."""

    n_all: float  # complete pairs
    fa_all: float  # Σ judge numerator over all pairs
    fb_all: float  # Σ judge denominator over all pairs
    n: float  # audited pairs (with a reference)
    m: dict[str, float]  # audited sums, keys MOMENTS


class CsSums(NamedTuple):
    """Variance processes Σ(x_i − x̄_{i−1})² for the confidence sequence."""

    v_fa: float  # judge numerator, all pairs
    v_fb: float  # judge denominator, all pairs
    v_ra: float  # rectifier a − fa, audited pairs
    v_rb: float  # rectifier b − fb, audited pairs


class PpiEstimate(NamedTuple):
    point: float
    ci: Interval | None
    lam: float  # the power-tuning λ used
    audited: int


def pair_moments(a: float, b: float, fa: float, fb: float) -> dict[str, float]:
    """One audited pair's contribution to each moment in :data:`MOMENTS`."""
    return {
        "a": a,
        "b": b,
        "fa": fa,
        "fb": fb,
        "aa": a * a,
        "bb": b * b,
        "fafa": fa * fa,
        "fbfb": fb * fb,
        "ab": a * b,
        "afa": a * fa,
        "afb": a * fb,
        "bfa": b * fa,
        "bfb": b * fb,
        "fafb": fa * fb,
    }


def _cov(m: dict[str, float], n: float, x: str, y: str, xy: str) -> float:
    return (m[xy] - m[x] * m[y] / n) / (n - 1.0)


def _terms(s: RatioSums, theta: float) -> tuple[float, float, float]:
    """(Var ψ, Cov(ψ, φ), Var φ) over the audited pairs at θ."""
    m, n = s.m, s.n
    vaa, vbb, vab = (
        _cov(m, n, "a", "a", "aa"),
        _cov(m, n, "b", "b", "bb"),
        _cov(m, n, "a", "b", "ab"),
    )
    vff = _cov(m, n, "fa", "fa", "fafa")
    vgg = _cov(m, n, "fb", "fb", "fbfb")
    vfg = _cov(m, n, "fa", "fb", "fafb")
    c_afa, c_afb = _cov(m, n, "a", "fa", "afa"), _cov(m, n, "a", "fb", "afb")
    c_bfa, c_bfb = _cov(m, n, "b", "fa", "bfa"), _cov(m, n, "b", "fb", "bfb")
    t = theta
    var_psi = vaa - 2 * t * vab + t * t * vbb
    var_phi = vff - 2 * t * vfg + t * t * vgg
    cov = c_afa - t * c_afb - t * c_bfa + t * t * c_bfb
    return max(var_psi, 0.0), cov, max(var_phi, 0.0)


def _ratio(s: RatioSums, lam: float) -> float | None:
    m, n = s.m, s.n
    num = m["a"] / n - lam * (m["fa"] / n - s.fa_all / s.n_all)
    den = m["b"] / n - lam * (m["fb"] / n - s.fb_all / s.n_all)
    if den <= 1e-12:
        return None
    return num / den


def ppi_ratio(
    s: RatioSums,
    alpha: float,
    *,
    low: float,
    high: float,
    tune: bool = True,
    min_audited: int = 2,
) -> PpiEstimate | None:
    """The prediction-powered estimate of θ = E[a]/E[b] and its fixed-n interval."""
    if s.n < max(2, min_audited) or s.n_all < s.n or s.n_all <= 0:
        return None
    theta0 = _ratio(s, 1.0)
    if theta0 is None:
        theta0 = _ratio(s, 0.0)
        if theta0 is None:
            return None
    lam = 1.0
    if tune:
        _, cov, var_phi = _terms(s, theta0)
        lam = min(1.0, max(0.0, cov / var_phi)) if var_phi > 0 else 1.0
    theta = _ratio(s, lam)
    if theta is None:
        return None
    var_psi, cov, var_phi = _terms(s, theta)
    frac = 1.0 / s.n - 1.0 / s.n_all
    var_num = var_psi / s.n - (2.0 * lam * cov - lam * lam * var_phi) * frac
    z = z_quantile(1.0 - alpha / 2.0)
    # Disagreements not yet seen: z²/2 pseudo-pairs whose rectifier is ±1 (Agresti–Coull's
    # pseudo-counts, as for the Δ floor in estimators.paired_mean_interval), so a small audit
    # that happens to agree everywhere does not claim the judge is exact, and a rare
    # disagreement's variance is not underestimated (bench/validity_ppi.py).
    var_num = max(var_num, 0.0) + (z * z / 2.0) / (s.n + z * z) / s.n
    den = s.m["b"] / s.n - lam * (s.m["fb"] / s.n - s.fb_all / s.n_all)
    var = max(var_num, 0.0) / (den * den)
    half = z * math.sqrt(var)
    point = min(high, max(low, theta))
    return PpiEstimate(
        point, Interval(max(low, theta - half), min(high, theta + half)), lam, int(s.n)
    )


def _mean_cs(total: float, n: float, v: float, c: float, alpha: float) -> tuple[float, float]:
    u = boundary(v, c, alpha)
    return (total - u) / n, (total + u) / n


def ppi_confidence_sequence(
    s: RatioSums,
    v: CsSums,
    alpha: float,
    *,
    low: float,
    high: float,
    unit_denominator: bool,
) -> Interval | None:
    """Anytime-valid bounds for θ (union bound over 2 or 4 empirical-Bernstein CSs)."""
    if s.n < 1 or s.n_all < 1:
        return None
    parts = 2 if unit_denominator else 4
    a_each = alpha / parts
    width = high - low
    fa_lo, fa_hi = _mean_cs(s.fa_all, s.n_all, v.v_fa, width, a_each)
    ra_lo, ra_hi = _mean_cs(s.m["a"] - s.m["fa"], s.n, v.v_ra, 2.0 * width, a_each)
    num_lo, num_hi = fa_lo + ra_lo, fa_hi + ra_hi
    if unit_denominator:
        return Interval(max(low, num_lo), min(high, num_hi))
    fb_lo, fb_hi = _mean_cs(s.fb_all, s.n_all, v.v_fb, 1.0, a_each)
    rb_lo, rb_hi = _mean_cs(s.m["b"] - s.m["fb"], s.n, v.v_rb, 2.0, a_each)
    den_lo, den_hi = max(fb_lo + rb_lo, 0.0), min(fb_hi + rb_hi, 1.0)
    if den_lo <= 0.0:
        return Interval(low, high)
    lo = num_lo / den_hi if num_lo >= 0 else num_lo / den_lo
    hi = num_hi / den_lo if num_hi >= 0 else num_hi / den_hi
    return Interval(max(low, lo), min(high, hi))
