from __future__ import annotations

import math

import pytest
from taxmeter.tax.cs import boundary, confidence_sequence
from taxmeter.tax.estimators import (
    paired_mean_interval,
    sample_variance,
    t_interval,
    t_quantile,
    wilson,
)


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.706205), (2, 4.302653), (5, 2.570582), (29, 2.045230), (99, 1.984217),
     (999, 1.962341)],
)
def test_t_quantile_matches_tables(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=2e-5)


def test_wilson_matches_hand_computed_value() -> None:
    # k=3, n=10, z=1.959964: centre = (0.3 + 0.19207)/1.38415,
    # half = 1.959964*sqrt(0.021 + 0.009604)/1.38415
    iv = wilson(3, 10, 0.05)
    assert iv is not None
    assert iv.low == pytest.approx(0.107789, abs=1e-5)
    assert iv.high == pytest.approx(0.603221, abs=1e-5)


def test_wilson_of_zero_successes_is_not_degenerate() -> None:
    iv = wilson(0, 30, 0.05)
    assert iv is not None
    assert iv.low == 0.0
    assert iv.high == pytest.approx(1.959964**2 / (30 + 1.959964**2), abs=1e-6)


def test_wilson_one_sample_and_empty() -> None:
    assert wilson(0, 0, 0.05) is None
    one = wilson(1, 1, 0.05)
    assert one is not None and one.high == 1.0 and one.low == pytest.approx(0.206543, abs=1e-5)


def test_sample_variance_needs_two_samples() -> None:
    assert sample_variance(0, 0.0, 0.0) is None
    assert sample_variance(1, 0.5, 0.25) is None
    # values 0.1, 0.3, 0.5: mean 0.3, variance 0.04
    assert sample_variance(3, 0.9, 0.35) == pytest.approx(0.04)


def test_t_interval_hand_computed() -> None:
    iv = t_interval(3, 0.9, 0.35, 0.05)
    assert iv is not None
    half = 4.302653 * math.sqrt(0.04 / 3)
    assert iv.low == pytest.approx(0.3 - half, abs=1e-5)
    assert iv.high == pytest.approx(0.3 + half, abs=1e-5)


def test_paired_interval_equals_t_when_nothing_ties() -> None:
    # 4 non-tied differences 0.1, 0.2, 0.3, 0.4: Wilson upper bound of 4/4 is 1 → floor 0.
    s1, s2 = 1.0, 0.3
    iv = paired_mean_interval(4, s1, s2, nontie=4, s2_nontie=s2, alpha=0.05)
    ref = t_interval(4, s1, s2, 0.05)
    assert iv == ref


def test_paired_interval_all_ties_is_not_degenerate() -> None:
    # 30 exact ties: plain t gives [0, 0]; the tie floor gives (p_hi - 0) * 1 variance.
    iv = paired_mean_interval(30, 0.0, 0.0, nontie=0, s2_nontie=0.0, alpha=0.05)
    assert iv is not None
    p_hi = 1.959964**2 / (30 + 1.959964**2)
    half = 2.045230 * math.sqrt(p_hi / 30)
    assert iv.low == pytest.approx(-half, abs=1e-5)
    assert iv.high == pytest.approx(half, abs=1e-5)


def test_paired_interval_undefined_below_two_pairs_and_clipped() -> None:
    assert paired_mean_interval(1, 1.0, 1.0, 1, 1.0, 0.05) is None
    iv = paired_mean_interval(2, 2.0, 2.0, 2, 2.0, 0.05)  # two d = 1
    assert iv is not None and iv.high == 1.0


def test_cs_boundary_matches_closed_form() -> None:
    # V = 100, c = 2, alpha = 0.05: l = ln ln 200 + 0.72 ln(5.2/0.025)
    ell = math.log(math.log(200.0)) + 0.72 * math.log(208.0)
    assert boundary(100.0, 2.0, 0.05) == pytest.approx(1.7 * math.sqrt(100 * ell) + 6.8 * ell)
    # V below 1 is treated as 1
    assert boundary(0.0, 1.0, 0.05) == boundary(1.0, 1.0, 0.05)


def test_confidence_sequence_is_clipped_and_undefined_when_empty() -> None:
    assert confidence_sequence(0, 0.0, 0.0, 0.05, low=-1, high=1) is None
    cs = confidence_sequence(1, 0.2, 0.04, 0.05, low=-1.0, high=1.0)
    assert cs is not None and (cs.low, cs.high) == (-1.0, 1.0)
    big = confidence_sequence(100_000, 5000.0, 9000.0, 0.05, low=-1.0, high=1.0)
    assert big is not None
    u = boundary(9000.0, 2.0, 0.05)
    assert big.low == pytest.approx((5000 - u) / 100_000)
    assert big.low < 0.05 < big.high


def test_confidence_sequence_is_wider_than_fixed_n_interval() -> None:
    n, s1, s2 = 1000, 30.0, 100.0
    ci = t_interval(n, s1, s2, 0.05)
    cs = confidence_sequence(n, s1, s2, 0.05, low=-1.0, high=1.0)
    assert ci is not None and cs is not None
    assert cs.low < ci.low and cs.high > ci.high
