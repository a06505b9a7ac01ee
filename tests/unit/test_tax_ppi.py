"""Prediction-powered estimates from sums (taxmeter.tax.ppi), against hand computations."""

from __future__ import annotations

import math

import pytest
from taxmeter.tax.ppi import (
    MOMENTS,
    CsSums,
    RatioSums,
    pair_moments,
    ppi_confidence_sequence,
    ppi_ratio,
)


def _sums(
    all_pairs: list[tuple[float, float]], audited: list[tuple[float, float, float, float]]
) -> RatioSums:
    m = dict.fromkeys(MOMENTS, 0.0)
    for a, b, fa, fb in audited:
        for k, v in pair_moments(a, b, fa, fb).items():
            m[k] += v
    return RatioSums(
        float(len(all_pairs)),
        sum(p[0] for p in all_pairs),
        sum(p[1] for p in all_pairs),
        float(len(audited)),
        m,
    )


def test_lambda_one_is_the_judge_estimate_plus_the_mean_rectifier() -> None:
    # 100 pairs, the judge calls 30 of them over-refusals (b ≡ 1); 10 audited: the judge said
    # yes on 4 of them, the reference says yes on 6 (2 misses): corrected = 0.30 + 2/10.
    all_pairs = [(1.0, 1.0)] * 30 + [(0.0, 1.0)] * 70
    audited = [(1.0, 1.0, 1.0, 1.0)] * 4 + [(1.0, 1.0, 0.0, 1.0)] * 2 + [(0.0, 1.0, 0.0, 1.0)] * 4
    est = ppi_ratio(_sums(all_pairs, audited), 0.05, low=0.0, high=1.0, tune=False)
    assert est is not None and est.lam == 1.0
    assert est.point == pytest.approx(0.5)
    # Var: rectifier r = a − fa ∈ {0, 1, 0}: mean 0.2, sample variance 0.1778; the judge
    # term Cov(ψ, φ), Var(φ) enter with (1/n − 1/N).
    assert est.ci is not None and est.ci.low < 0.5 < est.ci.high


def test_a_perfect_judge_gives_about_the_judge_only_width() -> None:
    all_pairs = [(1.0, 1.0)] * 2000 + [(0.0, 1.0)] * 8000
    audited = [(1.0, 1.0, 1.0, 1.0)] * 100 + [(0.0, 1.0, 0.0, 1.0)] * 400
    est = ppi_ratio(_sums(all_pairs, audited), 0.05, low=0.0, high=1.0)
    assert est is not None and est.ci is not None
    assert est.point == pytest.approx(0.2)
    assert est.lam == pytest.approx(1.0)
    # Var(φ)/N with Var(φ) the audited sample variance (n − 1 = 499), plus z²/2 pseudo-pairs
    # of disagreement among the 500 audited: z²/2/((500 + z²)·500).
    z2 = 1.959964**2
    var = 0.2 * 0.8 * 500 / 499 / 10_000 + z2 / 2 / ((500 + z2) * 500)
    half = (est.ci.high - est.ci.low) / 2
    assert half == pytest.approx(1.959964 * math.sqrt(var), rel=1e-6)


def test_ratio_measure_corrects_numerator_and_denominator() -> None:
    # a = over-refusal, b = eligible. Judge: 40 of 100 eligible, 10 over-refusals.
    all_pairs = [(1.0, 1.0)] * 10 + [(0.0, 1.0)] * 30 + [(0.0, 0.0)] * 60
    # audited 20: the reference finds every judged-ineligible pair eligible
    audited = [(1.0, 1.0, 1.0, 1.0)] * 2 + [(0.0, 1.0, 0.0, 1.0)] * 6 + [(0.0, 1.0, 0.0, 0.0)] * 12
    est = ppi_ratio(_sums(all_pairs, audited), 0.05, low=0.0, high=1.0, tune=False)
    assert est is not None
    # numerator 0.10 + 0, denominator 0.40 + 12/20 = 1.0 → 0.10
    assert est.point == pytest.approx(0.10)


def test_too_few_audited_pairs_give_no_estimate() -> None:
    s = _sums([(0.0, 1.0)] * 10, [(0.0, 1.0, 0.0, 1.0)])
    assert ppi_ratio(s, 0.05, low=0.0, high=1.0) is None
    assert (
        ppi_ratio(
            _sums([(0.0, 1.0)] * 10, [(0.0, 1.0, 0.0, 1.0)] * 5),
            0.05,
            low=0.0,
            high=1.0,
            min_audited=10,
        )
        is None
    )


def test_confidence_sequence_contains_the_corrected_point_and_is_wider_than_the_ci() -> None:
    all_pairs = [(1.0, 1.0)] * 300 + [(0.0, 1.0)] * 700
    audited = (
        [(1.0, 1.0, 1.0, 1.0)] * 20 + [(0.0, 1.0, 1.0, 1.0)] * 10 + [(0.0, 1.0, 0.0, 1.0)] * 70
    )
    s = _sums(all_pairs, audited)
    est = ppi_ratio(s, 0.05, low=0.0, high=1.0)
    cs = ppi_confidence_sequence(
        s, CsSums(210.0, 0.0, 9.0, 0.0), 0.05, low=0.0, high=1.0, unit_denominator=True
    )
    assert est is not None and est.ci is not None and cs is not None
    assert cs.low <= est.ci.low <= est.point <= est.ci.high <= cs.high
