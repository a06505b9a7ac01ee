"""The error model of the end-to-end over-refusal test: expected measured rate, its inverse,
the widening of an interval by the refusal judge's documented error, and reading that error
from a build report. Values below are computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import random

import pytest
from tax_e2e_fixtures import RefusalJudgeError, expected_measured, invert, widen
from taxmeter.tax.estimators import Interval


def test_expected_measured_matches_hand_computed_values() -> None:
    # perfect judge: the measured rate is the true rate
    assert expected_measured(0.3, 0.0, 0.0) == pytest.approx(0.3)
    # FNR only: 0.25 * 0.8 = 0.2
    assert expected_measured(0.25, 0.2, 0.0) == pytest.approx(0.2)
    # 0.25*0.8*0.95 + 0.75*0.05*0.95 = 0.19 + 0.035625 = 0.225625
    assert expected_measured(0.25, 0.2, 0.05) == pytest.approx(0.225625)
    # no over-refusal at all still measures FPR * (1 - FPR) = 0.1 * 0.9 ...
    assert expected_measured(0.0, 0.2, 0.1) == pytest.approx(0.09)
    # ... unless both arms gave the same answer (the false positives cancel): 0.5*0.8*0.9
    assert expected_measured(0.0, 0.2, 0.1, false_pair=0.0) == 0.0
    assert expected_measured(0.5, 0.2, 0.1, false_pair=0.0) == pytest.approx(0.36)


def test_invert_undoes_expected_measured() -> None:
    # (0.405 - 0.1*0.9) / (0.9 * (1 - 0.2 - 0.1)) = 0.315 / 0.63 = 0.5
    assert invert(0.405, 0.2, 0.1) == pytest.approx(0.5)
    # identical answers: 0.36 / (0.8 * 0.9) = 0.5
    assert invert(0.36, 0.2, 0.1, false_pair=0.0) == pytest.approx(0.5)
    for r in (0.0, 0.05, 0.25, 0.5, 1.0):
        for c in (None, 0.0, 0.01):
            m = expected_measured(r, 0.15, 0.03, false_pair=c)
            assert invert(m, 0.15, 0.03, false_pair=c) == pytest.approx(r)


def test_invert_refuses_a_judge_no_better_than_chance() -> None:
    with pytest.raises(ValueError, match="uninformative"):
        invert(0.3, 0.6, 0.4)


def test_widen_with_exactly_known_error_only_rescales() -> None:
    # FNR = 0.2, FPR = 0: r = m / 0.8
    got = widen(Interval(0.08, 0.16), Interval(0.2, 0.2), Interval(0.0, 0.0))
    assert got.low == pytest.approx(0.1)
    assert got.high == pytest.approx(0.2)


def test_widen_takes_the_low_fnr_for_the_low_end_and_the_high_fnr_for_the_high_end() -> None:
    # low: 0.09 / (1 - 0.1) = 0.1; high: 0.35 / (1 - 0.3) = 0.5
    got = widen(Interval(0.09, 0.35), Interval(0.1, 0.3), Interval(0.0, 0.0))
    assert got.low == pytest.approx(0.1)
    assert got.high == pytest.approx(0.5)


def test_widen_scans_the_fpr_range_and_clips_below_the_false_positive_floor() -> None:
    # FNR = 0.2, FPR in [0, 0.1].
    # low end (m = 0.05), independent errors: FPR 0 -> 0.0625; FPR 0.1 -> (0.05-0.09)/0.63
    #   < 0 -> clipped to 0
    # high end (m = 0.45): independent errors at FPR 0.1 give 0.36/0.63 = 0.571429, but
    #   identical answers (false_pair 0) give more: 0.45/(0.8*0.9) = 0.625
    got = widen(Interval(0.05, 0.45), Interval(0.2, 0.2), Interval(0.0, 0.1))
    assert got.low == 0.0
    assert got.high == pytest.approx(0.625, abs=1e-9)


def test_widen_clips_at_one_and_gives_up_on_a_useless_judge() -> None:
    got = widen(Interval(0.5, 0.9), Interval(0.3, 0.4), Interval(0.0, 0.0))
    assert got.high == 1.0  # 0.9 / 0.6 = 1.5
    assert widen(Interval(0.2, 0.3), Interval(0.5, 0.7), Interval(0.0, 0.3)) == (0.0, 1.0)


def test_widen_rejects_an_interval_outside_zero_one() -> None:
    with pytest.raises(ValueError, match="not an interval"):
        widen(Interval(0.4, 0.3), Interval(0.1, 0.2), Interval(0.0, 0.0))


def test_widened_interval_contains_every_rate_whose_expectation_falls_in_the_interval() -> None:
    # the defining property, on random boxes: r, FNR, FPR in the box and E[m] in [lo, hi]
    # imply r in widen([lo, hi], box)
    rng = random.Random(4)
    checked = 0
    for _ in range(400):
        b_lo = rng.uniform(0.0, 0.3)
        b_hi = b_lo + rng.uniform(0.0, 0.2)
        a_lo = rng.uniform(0.0, 0.1)
        a_hi = a_lo + rng.uniform(0.0, 0.1)
        r = rng.random()
        b, a = rng.uniform(b_lo, b_hi), rng.uniform(a_lo, a_hi)
        c = rng.choice([0.0, a * (1 - a), rng.uniform(0.0, a * (1 - a))])
        m = expected_measured(r, b, a, false_pair=c)
        lo, hi = max(0.0, m - rng.uniform(0.0, 0.05)), min(1.0, m + rng.uniform(0.0, 0.05))
        got = widen(Interval(lo, hi), Interval(b_lo, b_hi), Interval(a_lo, a_hi))
        assert got.low - 1e-9 <= r <= got.high + 1e-9, (r, b, a, c, lo, hi, got)
        checked += 1
    assert checked == 400


def test_widen_finds_the_extremes_of_a_finer_scan_over_fpr_and_false_pair() -> None:
    fnr, fpr = Interval(0.105, 0.348), Interval(0.0, 0.037)
    lo, hi = 0.38, 0.51
    got = widen(Interval(lo, hi), fnr, fpr)
    fine = [fpr.low + (fpr.high - fpr.low) * i / 10_000 for i in range(10_001)]
    shares = (0.0, 0.25, 0.5, 0.75, 1.0)  # false_pair as a share of FPR * (1 - FPR)
    best_hi = max(
        invert(hi, b, a, false_pair=k * a * (1 - a))
        for a in fine
        for b in (fnr.low, fnr.high)
        for k in shares
    )
    best_lo = min(
        invert(lo, b, a, false_pair=k * a * (1 - a))
        for a in fine
        for b in (fnr.low, fnr.high)
        for k in shares
    )
    assert got.high == pytest.approx(best_hi, abs=1e-6)
    assert got.low == pytest.approx(best_lo, abs=1e-6)


REPORT = {
    "metrics": {
        "refusal": {
            "n": 140,
            "positives": 40,
            "f1": 0.8889,
            "fpr": 0.0,
            "fnr": 0.2,
            "accuracy": 0.9429,
        }
    }
}


def test_judge_error_is_read_as_counts_with_wilson_bounds() -> None:
    err = RefusalJudgeError.from_report(REPORT)
    assert (err.positives, err.negatives) == (40, 100)
    assert (err.false_negatives, err.false_positives) == (8, 0)
    # Wilson 8/40, z = 1.959964: centre 0.248018/1.096037 = 0.226287, half 0.121287
    assert err.fnr_interval.low == pytest.approx(0.105000, abs=1e-5)
    assert err.fnr_interval.high == pytest.approx(0.347573, abs=1e-5)
    # Wilson 0/100: centre = half = 0.019207/1.038415 = 0.018497 -> [0, 0.036994]
    assert err.fpr_interval.low == 0.0
    assert err.fpr_interval.high == pytest.approx(0.036994, abs=1e-5)


def test_judge_error_from_a_rounded_rate_recovers_the_count() -> None:
    # 7/45 = 0.155556 is stored rounded as 0.1556
    report = {"metrics": {"refusal": {"n": 145, "positives": 45, "fnr": 0.1556, "fpr": 0.03}}}
    err = RefusalJudgeError.from_report(report)
    assert (err.false_negatives, err.false_positives) == (7, 3)


def test_judge_error_rejects_a_rate_that_is_not_a_count() -> None:
    report = {"metrics": {"refusal": {"n": 140, "positives": 40, "fnr": 0.21, "fpr": 0.0}}}
    with pytest.raises(ValueError, match="fnr"):
        RefusalJudgeError.from_report(report)
