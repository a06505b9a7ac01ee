from __future__ import annotations

import numpy as np
import pytest
from taxmeter.tax.sketch import LinearLayout, LogLayout, SignedLogLayout
from taxmeter.tax.windows import SlidingWindows


def _fill(layout: LogLayout | SignedLogLayout | LinearLayout, values: list[float]) -> np.ndarray:
    counts = np.zeros(layout.size)
    for v in values:
        counts[layout.index(v)] += 1
    return counts


def test_log_quantile_within_bucket_ratio_of_truth() -> None:
    rng = np.random.default_rng(3)
    values = list(rng.lognormal(0.0, 1.0, 5000))
    layout = LogLayout()
    counts = _fill(layout, values)
    for q in (0.5, 0.95):
        est = layout.quantile(counts, q)
        assert est is not None
        assert est == pytest.approx(float(np.quantile(values, q)), rel=0.1)


def test_quantile_of_empty_histogram_is_none() -> None:
    assert LogLayout().quantile(np.zeros(LogLayout().size), 0.5) is None
    assert SignedLogLayout().quantile(np.zeros(SignedLogLayout().size), 0.5) is None
    assert LinearLayout().quantile(np.zeros(20), 0.9) is None


def test_signed_quantile_handles_negative_zero_and_positive() -> None:
    layout = SignedLogLayout()
    assert layout.quantile(_fill(layout, [-2.0, -2.0, -2.0]), 0.5) == pytest.approx(-2.0, rel=0.2)
    assert layout.quantile(_fill(layout, [0.0, 0.0, 5.0]), 0.5) == 0.0
    assert layout.quantile(_fill(layout, [-1.0, 3.0, 3.0, 3.0]), 0.75) == pytest.approx(3, rel=0.2)


def test_linear_p90_of_uniform_grid() -> None:
    layout = LinearLayout(20)
    values = [i / 1000 for i in range(1000)]
    assert layout.quantile(_fill(layout, values), 0.9) == pytest.approx(0.9, abs=0.01)


def test_window_drops_slots_older_than_its_length() -> None:
    w = SlidingWindows([60.0, 600.0], slots=10, fields=2, now=0.0)
    idx = np.array([0, 1])
    w.add(idx, np.array([1.0, 0.5]), now=0.0)
    w.add(idx, np.array([1.0, 0.25]), now=30.0)
    short, long_ = w.totals(now=30.0)
    assert list(short) == [2.0, 0.75] and list(long_) == [2.0, 0.75]
    short, long_ = w.totals(now=65.0)  # the first slot (t in [0, 6)) is gone from the 60 s window
    assert list(short) == [1.0, 0.25]
    assert list(long_) == [2.0, 0.75]
    short, long_ = w.totals(now=10_000.0)  # long idle: everything expired, nothing negative
    assert list(short) == [0.0, 0.0] and list(long_) == [0.0, 0.0]


def test_a_quantile_inside_the_first_bucket_is_not_invented_by_interpolation() -> None:
    layout = LogLayout(lo=1e-3, hi=1.0)
    counts = _fill(layout, [0.0] * 50 + [2e-4] * 50)  # every value below the resolution
    assert layout.quantile(counts, 0.9) == 0.0
    assert layout.quantile(counts, 0.5) == 0.0
    # one bucket up, the estimate is interpolated again, within the layout's ratio
    counts = _fill(layout, [0.02] * 100)
    assert layout.quantile(counts, 0.9) == pytest.approx(0.02, rel=0.2)
