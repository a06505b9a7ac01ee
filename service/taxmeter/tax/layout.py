"""The field layout of one sufficient-statistics vector (pair-level sums and histograms).

One vector layout serves the all-time counters (exported as Prometheus counters), every
window slot, and the per-category counters, so one sparse update (indices, values) built per
pair is applied to all of them. Every field has a name: :class:`Scalars` for the pair-level
sums, :class:`ArmFields` for the per-arm ones, :class:`HeadFields` per quality head,
:class:`NoiseFields` per arm for the noise floor; histograms are slices.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, fields

from taxmeter.tax.sketch import LogLayout, SignedLogLayout

ARMS = ("guarded", "unguarded")

# Buckets of the exported delta histograms (seconds, ``le`` semantics), symmetric around 0.
_POS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
DELTA_EXPORT_BOUNDS: tuple[float, ...] = (*(-b for b in reversed(_POS)), 0.0, *_POS)


@dataclass(frozen=True, slots=True)
class Scalars:
    """Pair-level sums (indices into the vector)."""

    complete: int
    eligible: int
    over_refusals: int
    v_or: int  # Σ(x_i − x̄_{i−1})² of the over-refusal indicator (predictable centring)
    safety_benefits: int
    lat_n: int
    ttft_n: int
    answered: int  # eligible pairs where neither arm refused: the part of Δ without refusals
    tok_n_server: int  # token pairs whose two counts both came from the servers' usage
    tok_n_tokenizer: int  # ... both from a tokenizer (issue 16: sources never mixed)


@dataclass(frozen=True, slots=True)
class ArmFields:
    """Per-arm sums (indices)."""

    refusals: int
    unsafe: int
    lat_sum: int
    ttft_sum: int
    tokens: int


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
    d_answered: int  # Σd and Σd² over the answered pairs (``Scalars.answered``)
    d2_answered: int


@dataclass(frozen=True, slots=True)
class NoiseFields:
    n: int
    flips: int
    abs_sum: dict[str, int]
    abs_hist: dict[str, slice]


@dataclass(frozen=True, slots=True)
class MeasureFields:
    """One judge-error-corrected measure θ = E[a]/E[b] (``tax/ppi.py``): the judge's sums over
    all pairs, the audited pairs' moments, and the variance processes of the confidence
    sequence (judge terms over all pairs, rectifiers over the audited pairs)."""

    fa_all: int
    fb_all: int
    v_fa: int
    v_fb: int
    v_ra: int
    v_rb: int
    r_pos: int  # Σ max(a − fa, 0) over audited pairs: the rectifier as two monotone sums
    r_neg: int  # Σ max(fa − a, 0)
    moments: dict[str, int]


@dataclass(frozen=True, slots=True)
class AuditFields:
    n: int  # audited pairs with a reference
    measures: dict[str, MeasureFields]


def _count_fields(cls: type) -> int:
    return len(fields(cls))


class Layout:
    """``audit_measures`` (empty: auditing off, and the layout is exactly as without it)
    appends one :class:`MeasureFields` block per judge-error-corrected measure."""

    def __init__(
        self,
        quality_heads: Sequence[str],
        audit_measures: Sequence[str] = (),
        moments: Sequence[str] = (),
    ) -> None:
        self.lat = LogLayout()
        self.delta = SignedLogLayout()
        # |Δq| in [0, 1]: log buckets from 0.001 (below it: reported as 0, see sketch.py).
        self.noise_lin = LogLayout(lo=1e-3, hi=1.0, ratio=1.2)
        self._next = 0
        self.f = Scalars(*self._take_n(_count_fields(Scalars)))
        self.arm: dict[str, ArmFields] = {
            a: ArmFields(*self._take_n(_count_fields(ArmFields))) for a in ARMS
        }
        self.heads: dict[str, HeadFields] = {
            head: HeadFields(*self._take_n(_count_fields(HeadFields))) for head in quality_heads
        }
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
        self.audit: AuditFields | None = None
        if audit_measures:
            n = self._take()
            measures = {}
            for name in audit_measures:
                fa_all, fb_all, v_fa, v_fb, v_ra, v_rb, r_pos, r_neg = self._take_n(8)
                measures[name] = MeasureFields(
                    fa_all,
                    fb_all,
                    v_fa,
                    v_fb,
                    v_ra,
                    v_rb,
                    r_pos,
                    r_neg,
                    {m: self._take() for m in moments},
                )
            self.audit = AuditFields(n, measures)
        self.size = self._next

    def _take(self) -> int:
        i = self._next
        self._next += 1
        return i

    def _take_n(self, n: int) -> list[int]:
        return [self._take() for _ in range(n)]

    def _slice(self, n: int) -> slice:
        s = slice(self._next, self._next + n)
        self._next += n
        return s

    @staticmethod
    def export_bucket(value: float) -> int:
        """Index of the first export bound ≥ value (len(bounds) means +Inf only)."""
        return bisect.bisect_left(DELTA_EXPORT_BOUNDS, value)
