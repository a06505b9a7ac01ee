"""Plain-value summaries of one route (for the live terminal view and for the collector).

``summarize_window`` turns one window's sufficient-statistics vector into estimates; the
collector exports exactly these values, so the view and /metrics never disagree. Undefined
values are ``None`` (an empty window has no point estimate; one sample has no interval).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from taxmeter.tax.audit_stats import CorrectedFigure, corrected_window
from taxmeter.tax.cs import confidence_sequence
from taxmeter.tax.estimators import (
    Interval,
    paired_mean_interval,
    proportion,
    t_interval,
    wilson,
)
from taxmeter.tax.layout import Layout
from taxmeter.tax.sketch import FloatArray


@dataclass(frozen=True, slots=True)
class RouteSnapshot:
    """A consistent copy of one route's state, taken under the aggregator's lock."""

    route: str
    cum: FloatArray
    windows: list[FloatArray]
    categories: dict[str, FloatArray]
    unscored: dict[str, int]


@dataclass(frozen=True, slots=True)
class QualitySummary:
    """Δ for one quality head over the window's eligible pairs."""

    judge: str
    eligible: int
    point: float | None
    ci: Interval | None
    cs: Interval | None
    relative: float | None
    mean_guarded: float | None
    mean_unguarded: float | None
    # From the guarded arm's side: win = guarded better by more than ε (d < −ε).
    win: float | None
    tie: float | None
    loss: float | None
    answered: AnsweredPart | None = None
    """Δ over the eligible pairs where neither arm refused: the tax without the refusals,
    which over-refusal reports separately (a refusal scored against a full answer is part of
    the headline Δ)."""


@dataclass(frozen=True, slots=True)
class AnsweredPart:
    pairs: int
    point: float | None
    ci: Interval | None


@dataclass(frozen=True, slots=True)
class ProportionSummary:
    count: int
    pairs: int
    point: float | None
    ci: Interval | None
    cs: Interval | None


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Over latency-comparable pairs: ratios of guarded to unguarded quantiles."""

    pairs: int
    p50_ratio: float | None
    p95_ratio: float | None
    median_delta_s: float | None


@dataclass(frozen=True, slots=True)
class NoiseSummary:
    """Same-arm repeats: refusal flip rate and |Δq| spread per quality head (mean, p90)."""

    arm: str
    pairs: int
    flips: int
    flip_ratio: float | None
    flip_ci: Interval | None
    abs_delta_mean: Mapping[str, float | None]
    abs_delta_p90: Mapping[str, float | None]


@dataclass(frozen=True, slots=True)
class WindowSummary:
    window: str
    pairs: int
    eligible: int
    quality: Mapping[str, QualitySummary]
    over_refusal: ProportionSummary
    safety_benefit: ProportionSummary
    latency: LatencySummary
    ttft: LatencySummary
    token_overhead: float | None
    noise: Mapping[str, NoiseSummary]
    # Judge-error-corrected figures by measure (``tax/audit_stats.py``); empty when auditing is
    # off or the window holds fewer audited pairs than needed (then only judge-only figures).
    audited: int = 0
    corrected: Mapping[str, CorrectedFigure] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RouteSummary:
    route: str
    pairs_total: int
    eligible_total: int
    windows: Mapping[str, WindowSummary]


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def _at_most_one(value: float | None) -> float | None:
    """|Δq| is at most 1; the log layout's overflow bucket edge lies just above it."""
    return None if value is None else min(value, 1.0)


def _answered_part(n: int, s_d: float, s_d2: float, alpha: float, min_pairs: int) -> AnsweredPart:
    """A t interval for the mean of d over the answered pairs (no tie floor: both arms answered,
    so d is a difference of two continuous scores)."""
    ci = t_interval(n, s_d, s_d2, alpha) if n >= max(min_pairs, 2) else None
    if ci is not None:
        ci = Interval(max(ci.low, -1.0), min(ci.high, 1.0))
    return AnsweredPart(pairs=n, point=proportion(s_d, n), ci=ci)


def summarize_window(
    layout: Layout,
    window: str,
    t: FloatArray,
    *,
    alpha: float,
    min_pairs_for_bounds: int,
    min_audited: int | None = None,
) -> WindowSummary:
    f = layout.f
    pairs = int(t[f.complete])
    eligible = int(t[f.eligible])
    bounds_ok = eligible >= min_pairs_for_bounds
    quality: dict[str, QualitySummary] = {}
    for head, hf in layout.heads.items():
        s_d = float(t[hf.d])
        mean_g = proportion(float(t[hf.qg]), eligible)
        mean_u = proportion(float(t[hf.qu]), eligible)
        ci = (
            paired_mean_interval(
                eligible,
                s_d,
                float(t[hf.d2]),
                float(t[hf.win] + t[hf.loss]),
                float(t[hf.d2_nontie]),
                alpha,
            )
            if bounds_ok
            else None
        )
        cs = confidence_sequence(eligible, s_d, float(t[hf.v]), alpha, low=-1.0, high=1.0)
        relative = (
            1.0 - mean_g / mean_u
            if mean_g is not None and mean_u is not None and mean_u > 0
            else None
        )
        quality[head] = QualitySummary(
            judge=head,
            eligible=eligible,
            point=proportion(s_d, eligible),
            ci=ci,
            cs=cs,
            relative=relative,
            mean_guarded=mean_g,
            mean_unguarded=mean_u,
            win=proportion(float(t[hf.win]), eligible),
            tie=proportion(float(t[hf.tie]), eligible),
            loss=proportion(float(t[hf.loss]), eligible),
            answered=_answered_part(
                int(t[f.answered]),
                float(t[hf.d_answered]),
                float(t[hf.d2_answered]),
                alpha,
                min_pairs_for_bounds,
            ),
        )
    n_or = float(t[f.over_refusals])
    over_refusal = ProportionSummary(
        count=int(n_or),
        pairs=eligible,
        point=proportion(n_or, eligible),
        ci=wilson(n_or, eligible, alpha),
        cs=confidence_sequence(eligible, n_or, float(t[f.v_or]), alpha, low=0.0, high=1.0),
    )
    n_sb = float(t[f.safety_benefits])
    safety = ProportionSummary(
        count=int(n_sb),
        pairs=pairs,
        point=proportion(n_sb, pairs),
        ci=wilson(n_sb, pairs, alpha),
        cs=None,
    )
    lat = LatencySummary(
        pairs=int(t[f.lat_n]),
        p50_ratio=_ratio(
            layout.lat.quantile(t[layout.lat_g], 0.5), layout.lat.quantile(t[layout.lat_u], 0.5)
        ),
        p95_ratio=_ratio(
            layout.lat.quantile(t[layout.lat_g], 0.95),
            layout.lat.quantile(t[layout.lat_u], 0.95),
        ),
        median_delta_s=layout.delta.quantile(t[layout.lat_delta], 0.5),
    )
    ttft = LatencySummary(
        pairs=int(t[f.ttft_n]),
        p50_ratio=_ratio(
            layout.lat.quantile(t[layout.ttft_g], 0.5),
            layout.lat.quantile(t[layout.ttft_u], 0.5),
        ),
        p95_ratio=_ratio(
            layout.lat.quantile(t[layout.ttft_g], 0.95),
            layout.lat.quantile(t[layout.ttft_u], 0.95),
        ),
        median_delta_s=None,
    )
    token_overhead = _ratio(
        float(t[layout.arm["guarded"].tokens]), float(t[layout.arm["unguarded"].tokens])
    )
    noise: dict[str, NoiseSummary] = {}
    for arm, nf in layout.noise.items():
        n = float(t[nf.n])
        flips = float(t[nf.flips])
        noise[arm] = NoiseSummary(
            arm=arm,
            pairs=int(n),
            flips=int(flips),
            flip_ratio=proportion(flips, n),
            flip_ci=wilson(flips, n, alpha),
            abs_delta_mean={h: proportion(float(t[i]), n) for h, i in nf.abs_sum.items()},
            abs_delta_p90={
                h: _at_most_one(layout.noise_lin.quantile(t[sl], 0.9))
                for h, sl in nf.abs_hist.items()
            },
        )
    return WindowSummary(
        window=window,
        pairs=pairs,
        eligible=eligible,
        quality=quality,
        over_refusal=over_refusal,
        safety_benefit=safety,
        latency=lat,
        ttft=ttft,
        token_overhead=token_overhead,
        noise=noise,
        audited=int(t[layout.audit.n]) if layout.audit is not None else 0,
        corrected=(
            corrected_window(layout, t, alpha=alpha, min_audited=min_audited)
            if layout.audit is not None and min_audited is not None
            else {}
        ),
    )
