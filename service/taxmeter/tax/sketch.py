"""Fixed-bucket histograms whose counts live inside the window vectors (bounded memory).

A histogram here is a *layout* (value → bucket index, bucket → representative value); the
counts are a slice of a sufficient-statistics vector, so merging two windows or slots is
plain addition. Quantiles are read by walking the cumulative counts and interpolating
geometrically (log layouts) or linearly (linear layout) inside the bucket.

Accuracy: a log layout with ratio γ places every value within a factor γ of its bucket's
bounds; the interpolated quantile is exact at bucket edges and typically within ±γ/2 of
the true quantile in relative terms (±10 % at the default γ = 1.2).

The first bucket of a log layout, [0, lo), has no inner shape: a quantile that falls there is
reported as 0 ("below the resolution lo"), never interpolated (interpolating would invent a
value up to ``lo`` where every observation may be 0).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class LogLayout:
    """Positive values on a log grid: underflow (< lo), ``buckets`` log buckets, overflow."""

    def __init__(self, lo: float = 1e-3, hi: float = 300.0, ratio: float = 1.2) -> None:
        if not (0 < lo < hi) or ratio <= 1.0:
            raise ValueError("need 0 < lo < hi and ratio > 1")
        self.lo = lo
        self.ratio = ratio
        self._log_ratio = math.log(ratio)
        self.buckets = math.ceil(math.log(hi / lo) / self._log_ratio)
        self.size = self.buckets + 2
        # Bucket i (1..buckets) covers [lo·γ^(i−1), lo·γ^i); 0 is [0, lo); last is [hi, ∞).
        self.edges = lo * ratio ** np.arange(self.buckets + 1, dtype=np.float64)

    def index(self, value: float) -> int:
        if value < self.lo:
            return 0
        i = int(math.log(value / self.lo) / self._log_ratio) + 1
        return min(i, self.size - 1)

    def quantile(self, counts: FloatArray, q: float) -> float | None:
        total = float(counts.sum())
        if total <= 0:
            return None
        rank = q * total
        cum = np.cumsum(counts)
        i = int(np.searchsorted(cum, rank, side="left"))
        i = min(i, self.size - 1)
        before = float(cum[i - 1]) if i > 0 else 0.0
        frac = (rank - before) / float(counts[i]) if counts[i] > 0 else 0.5
        frac = min(max(frac, 0.0), 1.0)
        if i == 0:
            return 0.0  # below the resolution: nothing to interpolate inside [0, lo)
        if i == self.size - 1:
            return float(self.edges[-1])
        low = float(self.edges[i - 1])
        return float(low * self.ratio**frac)


class SignedLogLayout:
    """Signed values: mirrored log buckets for x < 0, a zero bucket (|x| < lo), x > 0."""

    def __init__(self, lo: float = 1e-3, hi: float = 300.0, ratio: float = 1.2) -> None:
        self.pos = LogLayout(lo, hi, ratio)
        self.half = self.pos.size - 1  # log buckets + overflow, per side
        self.size = 2 * self.half + 1
        self.zero = self.half

    def index(self, value: float) -> int:
        if abs(value) < self.pos.lo:
            return self.zero
        i = self.pos.index(abs(value))  # ≥ 1
        return self.zero + i if value > 0 else self.zero - i

    def quantile(self, counts: FloatArray, q: float) -> float | None:
        total = float(counts.sum())
        if total <= 0:
            return None
        rank = q * total
        neg = float(counts[: self.zero].sum())
        zero = float(counts[self.zero])
        if rank <= neg and neg > 0:
            # Mirror: the q-th value among negatives is −(the (1 − rank/neg) quantile of |x|).
            mirrored = np.zeros(self.pos.size)
            mirrored[1:] = counts[: self.zero][::-1]
            value = self.pos.quantile(mirrored, 1.0 - rank / neg)
            return None if value is None else -value
        if rank <= neg + zero:
            return 0.0
        positive = np.zeros(self.pos.size)
        positive[1:] = counts[self.zero + 1 :]
        pos_total = float(positive.sum())
        return self.pos.quantile(positive, (rank - neg - zero) / pos_total)


class LinearLayout:
    """Values in [0, 1] on ``buckets`` equal bins (the last one closed)."""

    def __init__(self, buckets: int = 20) -> None:
        self.size = buckets

    def index(self, value: float) -> int:
        return min(max(int(value * self.size), 0), self.size - 1)

    def quantile(self, counts: FloatArray, q: float) -> float | None:
        total = float(counts.sum())
        if total <= 0:
            return None
        rank = q * total
        cum = np.cumsum(counts)
        i = min(int(np.searchsorted(cum, rank, side="left")), self.size - 1)
        before = float(cum[i - 1]) if i > 0 else 0.0
        frac = (rank - before) / float(counts[i]) if counts[i] > 0 else 0.5
        return (i + min(max(frac, 0.0), 1.0)) / self.size
