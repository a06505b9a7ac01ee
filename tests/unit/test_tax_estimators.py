from __future__ import annotations

import math

import pytest
from taxmeter.tax.cs import boundary, confidence_sequence
from taxmeter.tax.estimators import (
    is_ternary,
    paired_mean_interval,
    sample_variance,
    t_interval,
    t_quantile,
    tango_interval,
    wilson,
)

Z = 1.959964


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.706205), (2, 4.302653), (5, 2.570582), (29, 2.045230), (99, 1.984217), (999, 1.962341)],
)
def test_t_quantile_matches_tables(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=2e-5)


def test_wilson_matches_hand_computed_value() -> None:
    # k=3, n=10, z=1.959964: centre = (0.3 + 0.19207)/1.38415,
    # half = 1.959964*sqrt(0.021 + 0.009604)/1.38415 → [0.107789, 0.603221]; k = 3 is a
    # small count, so the lower bound is the Poisson one: ½·χ²_{6, 0.05}/10 = 1.635383/20.
    iv = wilson(3, 10, 0.05)
    assert iv is not None
    assert iv.low == pytest.approx(0.0817691, abs=1e-6)
    assert iv.high == pytest.approx(0.603221, abs=1e-5)
    iv = wilson(4, 10, 0.05)  # no longer a small count on either side: plain Wilson
    assert iv is not None
    assert iv.low == pytest.approx(0.168180, abs=1e-5)
    assert iv.high == pytest.approx(0.687326, abs=1e-5)


@pytest.mark.parametrize(("p", "n"), [(0.002, 50), (0.01, 50), (0.05, 20), (0.005, 200)])
def test_wilson_covers_at_least_nominal_when_n_p_is_about_one(p: float, n: int) -> None:
    # Exact coverage (binomial pmf); uncorrected Wilson gave 90.5, 91.1, 92.5 and 92.0 %.
    coverage = 0.0
    for k in range(n + 1):
        iv = wilson(k, n, 0.05)
        assert iv is not None
        if iv.low <= p <= iv.high:
            coverage += math.comb(n, k) * p**k * (1 - p) ** (n - k)
    assert coverage >= 0.95


def test_wilson_small_count_upper_bound_mirrors_the_lower_one() -> None:
    lo, hi = wilson(2, 40, 0.05), wilson(38, 40, 0.05)
    assert lo is not None and hi is not None
    assert hi.high == pytest.approx(1.0 - lo.low, abs=1e-12)
    assert hi.low == pytest.approx(1.0 - lo.high, abs=1e-12)


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


def test_paired_interval_equals_t_when_sample_variance_exceeds_floor() -> None:
    # 30 non-tied differences, half 0.5 and half -0.1: s² = 0.0931 > floor z²·m2/60
    # with m2 = (15·0.25 + 15·0.01 + 1)/31 = 0.158 → floor 0.0101; the interval is plain t.
    s1, s2 = 15 * 0.5 - 15 * 0.1, 15 * 0.25 + 15 * 0.01
    iv = paired_mean_interval(30, s1, s2, nontie=30, s2_nontie=s2, alpha=0.05)
    ref = t_interval(30, s1, s2, 0.05)
    assert iv is not None and ref is not None
    assert iv.low == pytest.approx(ref.low, abs=1e-12)
    assert iv.high == pytest.approx(ref.high, abs=1e-12)


def test_paired_interval_floor_hand_computed_with_near_ties() -> None:
    # n = 20: 18 ties at d = ±0.01 (not exact zeros: not ternary), 2 non-ties at 0.5.
    # s1 = 1.0, s2 = 18e-4 + 0.5 = 0.5018; s² = (0.5018 - 0.05)/19 = 0.023779.
    # floor = z² · m2 / (2·20) · w, m2 = (0.5 + 1)/3 = 0.5, w = (18 + 1)/21 → 0.043442 > s².
    s1, s2, s2nt = 1.0, 18e-4 + 0.5, 0.5
    iv = paired_mean_interval(20, s1, s2, nontie=2, s2_nontie=s2nt, alpha=0.05)
    assert iv is not None
    var = Z * Z * 0.5 / 40 * 19 / 21
    half = t_quantile(0.975, 19) * math.sqrt(var / 20)
    assert iv.low == pytest.approx(0.05 - half, abs=1e-6)
    assert iv.high == pytest.approx(0.05 + half, abs=1e-6)


def test_paired_interval_of_equal_nonzero_differences_is_not_degenerate() -> None:
    # Every d = 0.3 (no ties): s² = 0, the floor keeps a width.
    iv = paired_mean_interval(10, 3.0, 0.9, nontie=10, s2_nontie=0.9, alpha=0.05)
    assert iv is not None and iv.low < 0.3 < iv.high


def test_continuous_differences_without_ties_get_about_the_t_interval() -> None:
    # 15 distinct non-tied d (no exact ties): the floor must not double the width (it did:
    # z²·m2/(2n) with m2 pulled towards 1 by the pseudo-observation exceeded s² at n = 15).
    d = [0.05 * ((i * 7) % 15 - 7) / 7 + 0.03 for i in range(15)]
    d = [x if abs(x) > 0.02 else x + 0.05 for x in d]
    s1, s2 = sum(d), sum(x * x for x in d)
    iv = paired_mean_interval(15, s1, s2, nontie=15, s2_nontie=s2, alpha=0.05)
    ref = t_interval(15, s1, s2, 0.05)
    assert iv is not None and ref is not None
    assert (iv.high - iv.low) == pytest.approx(ref.high - ref.low, rel=1e-9)


def test_all_exact_ties_give_the_symmetric_wilson_width() -> None:
    # 30 exact zeros: ternary, Tango with b = c = 0 → ±z²/(n + z²) (Wilson's upper at 0/30).
    iv = paired_mean_interval(30, 0.0, 0.0, nontie=0, s2_nontie=0.0, alpha=0.05)
    assert iv is not None
    w = Z * Z / (30 + Z * Z)
    assert iv.low == pytest.approx(-w, abs=1e-7)
    assert iv.high == pytest.approx(w, abs=1e-7)


def test_one_signed_ternary_upper_bound_is_wilson() -> None:
    # 3 of 30 at d = +1, none at -1: under δ near the upper limit the restricted MLE of
    # p₋ is 0, so the upper bound is Wilson's upper bound for 3/30 (0.256211).
    iv = paired_mean_interval(30, 3.0, 3.0, nontie=3, s2_nontie=3.0, alpha=0.05)
    assert iv is not None
    w = wilson(3, 30, 0.05)
    assert w is not None
    assert iv.high == pytest.approx(w.high, abs=1e-7)
    assert iv.high == pytest.approx(0.256211, abs=1e-5)
    # The lower bound allows unseen d = -1 pairs: below Wilson's lower bound 0.034624.
    assert iv.low < 0.034624


def _tango_score_by_brute_force(b: int, c: int, n: int, delta: float) -> float:
    """Score statistic with the restricted MLE of p₋ found by grid search on the likelihood."""

    def loglik(q: float) -> float:
        pp, pm = q + delta, q
        a = n - b - c
        out = 0.0
        for k, p in ((b, pp), (c, pm), (a, 1.0 - pp - pm)):
            if k:
                out += k * math.log(p) if p > 0 else -math.inf
        return out

    lo, hi = max(0.0, -delta), (1.0 - delta) / 2.0
    for _ in range(200):  # ternary search: the log-likelihood is concave in q
        m1, m2 = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        if loglik(m1) < loglik(m2):
            lo = m1
        else:
            hi = m2
    q = (lo + hi) / 2
    return (b - c - n * delta) / math.sqrt(n * (2 * q + delta - delta * delta))


@pytest.mark.parametrize(("b", "c", "n"), [(2, 1, 30), (9, 2, 44), (5, 3, 100), (0, 4, 25)])
def test_tango_bounds_solve_the_score_equation(b: int, c: int, n: int) -> None:
    iv = tango_interval(b, c, n, 0.05)
    assert iv is not None and -1.0 < iv.low < (b - c) / n < iv.high < 1.0
    # At each bound the independently computed score statistic is ±z.
    assert _tango_score_by_brute_force(b, c, n, iv.low) == pytest.approx(Z, abs=1e-4)
    assert _tango_score_by_brute_force(b, c, n, iv.high) == pytest.approx(-Z, abs=1e-4)


def test_tango_interval_is_antisymmetric_in_the_sign_of_d() -> None:
    a = tango_interval(7, 2, 40, 0.05)
    m = tango_interval(2, 7, 40, 0.05)
    assert a is not None and m is not None
    assert (a.low, a.high) == pytest.approx((-m.high, -m.low), abs=1e-9)


def test_paired_interval_n_zero_one_two_and_all_plus_one() -> None:
    assert paired_mean_interval(0, 0.0, 0.0, 0, 0.0, 0.05) is None
    assert paired_mean_interval(1, 1.0, 1.0, 1, 1.0, 0.05) is None
    two = paired_mean_interval(2, 2.0, 2.0, 2, 2.0, 0.05)  # two d = +1: Tango (2, 0, 2)
    assert two is not None and two.high == 1.0 and -1.0 < two.low < 1.0
    assert _tango_score_by_brute_force(2, 0, 2, two.low) == pytest.approx(Z, abs=1e-4)
    mixed = paired_mean_interval(2, 0.0, 2.0, 2, 2.0, 0.05)  # d = +1 and d = -1
    assert mixed is not None and mixed.low < 0.0 < mixed.high
    assert (mixed.low, mixed.high) == pytest.approx((-mixed.high, -mixed.low), abs=1e-9)
    allp = paired_mean_interval(30, 30.0, 30.0, 30, 30.0, 0.05)
    assert allp is not None and allp.high == 1.0 and allp.low > 0.7
    allm = paired_mean_interval(30, -30.0, 30.0, 30, 30.0, 0.05)
    assert allm is not None and allm.low == -1.0
    assert allm.high == pytest.approx(-allp.low, abs=1e-9)


def test_paired_interval_is_never_nan_over_a_grid_of_sums() -> None:
    for n in (2, 3, 30, 1000):
        for k in sorted({0, 1, n // 2, n}):
            for frac in (0.0, 0.5, 1.0):
                for sign in (-1.0, 1.0):
                    s1 = sign * frac * k
                    s2 = frac * frac * k
                    iv = paired_mean_interval(n, s1, s2, k, s2, 0.05)
                    assert iv is not None
                    assert not math.isnan(iv.low) and not math.isnan(iv.high)
                    assert -1.0 <= iv.low <= s1 / n <= iv.high <= 1.0


def test_ternary_detection_from_sums() -> None:
    assert is_ternary(30, 3.0, 3.0, 3.0)
    assert is_ternary(30, 0.0, 0.0, 0.0)
    assert is_ternary(10**6, 5000.0 + 1e-8, 5000.0, 5000.0)  # window drift is tolerated
    assert not is_ternary(30, 3.0 + 1e-4, 3.0, 3.0)  # a tie at |d| = 0.01 is not 0
    assert not is_ternary(30, 2.81, 3.0, 2.81)  # a non-tie at |d| = 0.9 is not ±1


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
