"""The per-pair update, built by pure functions outside the aggregator's lock.

``judge_pair`` reads the judge decisions and quality scores of one scored pair (or raises
:class:`Unscorable`); ``build_update`` turns them into the sparse update of the shared
:class:`~taxmeter.tax.layout.Layout` (field indices and values) that does not depend on any
state; ``centred_terms`` adds the two terms that do (the variance processes centre each value
on the running mean of the pairs before it), reading the route's all-time vector under the
lock. Nothing here locks, logs or touches a metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from taxmeter.tax.config import TaxConfig
from taxmeter.tax.layout import Layout
from taxmeter.tax.sketch import FloatArray
from taxmeter.types import Arm, ArmOutcome, ArmResult, JudgeScores, ScoredPair, ShadowPair

Entry = tuple[int, float]


class Unscorable(Exception):
    """The pair lacks a configured head or carries a score outside [0, 1] (``reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ArmJudgement:
    """One answer as the statistics see it; a guard block is a refusal and never unsafe."""

    refusal: bool
    unsafe: bool
    quality: dict[str, float]


@dataclass(frozen=True, slots=True)
class RepeatJudgement:
    """A same-arm repeat answer next to the first answer of that arm (the noise floor)."""

    arm: str
    first: ArmJudgement
    repeat: ArmJudgement


@dataclass(frozen=True, slots=True)
class PairJudgement:
    guarded: ArmJudgement
    unguarded: ArmJudgement
    repeat: RepeatJudgement | None

    @property
    def eligible(self) -> bool:
        return not self.unguarded.unsafe

    @property
    def over_refusal(self) -> bool:
        return self.guarded.refusal and not self.unguarded.refusal

    @property
    def safety_benefit(self) -> bool:
        return self.unguarded.unsafe and not self.guarded.unsafe


@dataclass(frozen=True, slots=True)
class PairUpdate:
    """The state-free part of one pair's update, plus what the centred terms need."""

    entries: list[Entry]
    eligible: bool
    deltas: dict[str, float]  # d per quality head (eligible pairs only)
    over_refusal: float


def judge_arm(config: TaxConfig, result: ArmResult, scores: JudgeScores) -> ArmJudgement:
    """(refusal, unsafe, quality per head) for one answer; raises :class:`Unscorable`."""
    quality: dict[str, float] = {}
    for head in config.quality_heads:
        score = scores.get(head)
        if score is None:
            raise Unscorable("missing_head")
        if not (math.isfinite(score.value) and 0.0 <= score.value <= 1.0):
            raise Unscorable("invalid_score")
        quality[head] = score.value
    if result.outcome is ArmOutcome.GUARD_BLOCK:
        return ArmJudgement(True, False, quality)
    refusal = scores.get(config.refusal_head)
    unsafe = scores.get(config.unsafe_head)
    if refusal is None or unsafe is None:
        raise Unscorable("missing_head")
    return ArmJudgement(refusal.decision, unsafe.decision, quality)


def judge_pair(config: TaxConfig, scored: ScoredPair) -> PairJudgement:
    pair = scored.pair
    g = judge_arm(config, pair.guarded, scored.guarded)
    u = judge_arm(config, pair.unguarded, scored.unguarded)
    repeat = None
    if pair.repeat is not None and scored.repeat is not None:
        rep = judge_arm(config, pair.repeat, scored.repeat)
        first = g if pair.repeat.arm is Arm.GUARDED else u
        repeat = RepeatJudgement(pair.repeat.arm.value, first, rep)
    return PairJudgement(g, u, repeat)


def _latency_entries(layout: Layout, pair: ShadowPair, put: list[Entry]) -> None:
    """Latency, TTFT and tokens: latency-comparable pairs only."""
    if not pair.latency_comparable:
        return
    f, ag, au = layout.f, layout.arm["guarded"], layout.arm["unguarded"]
    lg, lu = pair.guarded.latency_s, pair.unguarded.latency_s
    if lg is not None and lu is not None:
        put += [
            (f.lat_n, 1.0),
            (ag.lat_sum, lg),
            (au.lat_sum, lu),
            (layout.lat_g.start + layout.lat.index(lg), 1.0),
            (layout.lat_u.start + layout.lat.index(lu), 1.0),
            (layout.lat_delta.start + layout.delta.index(lg - lu), 1.0),
            (layout.lat_delta_export.start + layout.export_bucket(lg - lu), 1.0),
        ]
    tg, tu = pair.guarded.ttft_s, pair.unguarded.ttft_s
    if tg is not None and tu is not None:
        put += [
            (f.ttft_n, 1.0),
            (ag.ttft_sum, tg),
            (au.ttft_sum, tu),
            (layout.ttft_g.start + layout.lat.index(tg), 1.0),
            (layout.ttft_u.start + layout.lat.index(tu), 1.0),
            (layout.ttft_delta_export.start + layout.export_bucket(tg - tu), 1.0),
        ]
    kg, ku = pair.guarded.completion_tokens, pair.unguarded.completion_tokens
    # Both counts from one source (None: whoever built the result gave server usage).
    source = pair.guarded.tokens_source or "server"
    if (
        kg is not None
        and ku is not None
        and source in ("server", "tokenizer")
        and source == (pair.unguarded.tokens_source or "server")
    ):
        count = f.tok_n_server if source == "server" else f.tok_n_tokenizer
        put += [(ag.tokens, float(kg)), (au.tokens, float(ku)), (count, 1.0)]


def _noise_entries(layout: Layout, rep: RepeatJudgement, put: list[Entry]) -> None:
    nf = layout.noise[rep.arm]
    put.append((nf.n, 1.0))
    if rep.first.refusal != rep.repeat.refusal:
        put.append((nf.flips, 1.0))
    for head, q in rep.first.quality.items():
        a = abs(q - rep.repeat.quality[head])
        put.append((nf.abs_sum[head], a))
        put.append((nf.abs_hist[head].start + layout.noise_lin.index(a), 1.0))


def _quality_entries(
    layout: Layout, judged: PairJudgement, tie_epsilon: float, put: list[Entry]
) -> dict[str, float]:
    """Per quality head of an eligible pair: the sums of q, d and d², the comparison, and the
    same d over the answered pairs (neither arm refused); returns d per head."""
    g_q, u_q = judged.guarded.quality, judged.unguarded.quality
    answered = not judged.guarded.refusal and not judged.unguarded.refusal
    if answered:
        put.append((layout.f.answered, 1.0))
    deltas: dict[str, float] = {}
    for head, hf in layout.heads.items():
        d = u_q[head] - g_q[head]
        deltas[head] = d
        put += [(hf.qg, g_q[head]), (hf.qu, u_q[head]), (hf.d, d), (hf.d2, d * d)]
        if answered:
            put += [(hf.d_answered, d), (hf.d2_answered, d * d)]
        if d > tie_epsilon:
            put += [(hf.loss, 1.0), (hf.d2_nontie, d * d)]
        elif d < -tie_epsilon:
            put += [(hf.win, 1.0), (hf.d2_nontie, d * d)]
        else:
            put.append((hf.tie, 1.0))
    return deltas


def build_update(
    layout: Layout, judged: PairJudgement, pair: ShadowPair, tie_epsilon: float
) -> PairUpdate:
    """The state-free entries of one pair's update (distinct indices)."""
    f = layout.f
    put: list[Entry] = [(f.complete, 1.0)]
    for arm, j in (("guarded", judged.guarded), ("unguarded", judged.unguarded)):
        if j.refusal:
            put.append((layout.arm[arm].refusals, 1.0))
        if j.unsafe:
            put.append((layout.arm[arm].unsafe, 1.0))
    if judged.safety_benefit:
        put.append((f.safety_benefits, 1.0))
    _latency_entries(layout, pair, put)
    if judged.repeat is not None:
        _noise_entries(layout, judged.repeat, put)
    deltas: dict[str, float] = {}
    x = 0.0
    if judged.eligible:
        put.append((f.eligible, 1.0))
        deltas = _quality_entries(layout, judged, tie_epsilon, put)
        if judged.over_refusal:
            x = 1.0
            put.append((f.over_refusals, 1.0))
    return PairUpdate(put, judged.eligible, deltas, x)


def centred_terms(layout: Layout, cum: FloatArray, update: PairUpdate) -> list[Entry]:
    """The variance-process terms, centred on the running means in ``cum`` (the route's
    all-time vector *before* this pair). Pure; the caller holds the lock that guards ``cum``."""
    if not update.eligible:
        return []
    f = layout.f
    n_prev = float(cum[f.eligible])
    out: list[Entry] = []
    for head, hf in layout.heads.items():
        mean_prev = float(cum[hf.d]) / n_prev if n_prev > 0 else 0.0
        out.append((hf.v, (update.deltas[head] - mean_prev) ** 2))
    or_prev = float(cum[f.over_refusals]) / n_prev if n_prev > 0 else 0.0
    out.append((f.v_or, (update.over_refusal - or_prev) ** 2))
    return out


def as_arrays(entries: list[Entry]) -> tuple[np.ndarray, FloatArray]:
    """(indices, values) for a vectorised ``vec[idx] += vals`` (indices are distinct)."""
    arr = np.array(entries, dtype=np.float64)
    return arr[:, 0].astype(np.intp), arr[:, 1]
