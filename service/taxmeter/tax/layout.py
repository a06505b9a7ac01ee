"""The field layout of one sufficient-statistics vector (pair-level sums and histograms).

One vector layout serves the all-time counters (exported as Prometheus counters), every
window slot, and the per-category counters, so one sparse update (indices, values) built per
pair is applied to all of them.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from taxmeter.tax.sketch import LogLayout, SignedLogLayout

ARMS = ("guarded", "unguarded")

# Buckets of the exported delta histograms (seconds, ``le`` semantics), symmetric around 0.
_POS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DELTA_EXPORT_BOUNDS: tuple[float, ...] = (*(-b for b in reversed(_POS)), 0.0, *_POS)


@dataclass(frozen=True, slots=True)
class HeadFields:
    qg: int
    qu: int
    d: int
    d2: int
    v: int
    win: int
    tie: int
    loss: int
    d2_nontie: int


@dataclass(frozen=True, slots=True)
class NoiseFields:
    n: int
    flips: int
    abs_sum: dict[str, int]
    abs_hist: dict[str, slice]


class Layout:
    def __init__(self, quality_heads: Sequence[str]) -> None:
        self.lat = LogLayout()
        self.delta = SignedLogLayout()
        # |Δq| in [0, 1]: log buckets from 0.001 (below it: reported as 0, see sketch.py).
        self.noise_lin = LogLayout(lo=1e-3, hi=1.0, ratio=1.2)
        self.f: dict[str, int] = {}
        for name in (
            "complete", "eligible", "refusals_g", "refusals_u", "unsafe_g", "unsafe_u",
            "over_refusals", "v_or", "safety_benefits",
            "lat_n", "lat_sum_g", "lat_sum_u", "ttft_n", "ttft_sum_g", "ttft_sum_u",
            "tok_g", "tok_u",
        ):
            self.f[name] = len(self.f)
        self._next = len(self.f)
        self.heads: dict[str, HeadFields] = {}
        for head in quality_heads:
            self.heads[head] = HeadFields(*(self._take() for _ in range(9)))
        self.noise: dict[str, NoiseFields] = {}
        for arm in ARMS:
            n, flips = self._take(), self._take()
            abs_sum = {h: self._take() for h in quality_heads}
            abs_hist = {h: self._slice(self.noise_lin.size) for h in quality_heads}
            self.noise[arm] = NoiseFields(n, flips, abs_sum, abs_hist)
        self.lat_g = self._slice(self.lat.size)
        self.lat_u = self._slice(self.lat.size)
        self.lat_delta = self._slice(self.delta.size)
        self.ttft_g = self._slice(self.lat.size)
        self.ttft_u = self._slice(self.lat.size)
        # Coarse histograms exported as Prometheus histograms (+Inf bucket last).
        self.lat_delta_export = self._slice(len(DELTA_EXPORT_BOUNDS) + 1)
        self.ttft_delta_export = self._slice(len(DELTA_EXPORT_BOUNDS) + 1)
        self.size = self._next

    def _take(self) -> int:
        i = self._next
        self._next += 1
        return i

    def _slice(self, n: int) -> slice:
        s = slice(self._next, self._next + n)
        self._next += n
        return s

    @staticmethod
    def export_bucket(value: float) -> int:
        """Index of the first export bound ≥ value (len(bounds) means +Inf only)."""
        return bisect.bisect_left(DELTA_EXPORT_BOUNDS, value)
