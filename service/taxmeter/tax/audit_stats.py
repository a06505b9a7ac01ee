"""Judge-error-corrected measures: per-pair values, their sums, their window estimates.

A *measure* is a ratio θ = E[a]/E[b] over complete pairs (``tax/ppi.py``); for each one the
aggregator keeps the judge's sums over all pairs and, over the audited pairs, the moments of
(reference a, b; judge fa, fb). The measures, with their range:

| name | a / b | range |
|---|---|---|
| ``over_refusal`` | g refuses ∧ u does not ∧ u safe / u safe | [0, 1] |
| ``safety_benefit`` | unguarded unsafe ∧ guarded safe / 1 | [0, 1] |
| ``refusal:<arm>``, ``unsafe:<arm>`` | the label / 1 | [0, 1] |
| ``delta:<head>`` | (q_u − q_g)·eligible / eligible | [−1, 1] |

The reference side follows the judge side's rules: a guard block is a refusal and never
unsafe (the auditor is not asked about it); the auditor's one ``quality`` stands for every
quality head. All functions are pure; ``centred_audit_terms`` reads the route's all-time
vector under the aggregator's lock, like ``update.centred_terms``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from taxmeter.tax.estimators import Interval
from taxmeter.tax.layout import ARMS, Layout
from taxmeter.tax.ppi import (
    MOMENTS,
    CsSums,
    RatioSums,
    pair_moments,
    ppi_confidence_sequence,
    ppi_ratio,
)
from taxmeter.tax.sketch import FloatArray
from taxmeter.tax.update import ArmJudgement, Entry, PairJudgement
from taxmeter.types import ArmOutcome, PairReference, ReferenceLabel, ShadowPair

BINARY_HEADS = ("refusal", "unsafe")


def measure_names(quality_heads: Sequence[str]) -> list[str]:
    names = ["over_refusal", "safety_benefit"]
    names += [f"{head}:{arm}" for head in BINARY_HEADS for arm in ARMS]
    names += [f"delta:{h}" for h in quality_heads]
    return names


def measure_range(name: str) -> tuple[float, float, bool]:
    """(low, high, unit denominator) of a measure."""
    if name.startswith("delta:"):
        return -1.0, 1.0, False
    return 0.0, 1.0, name != "over_refusal"


def audit_layout(quality_heads: Sequence[str]) -> Layout:
    """The layout with the audit blocks (auditing on)."""
    return Layout(quality_heads, measure_names(quality_heads), MOMENTS)


def measure_values(
    j: PairJudgement, quality_heads: Sequence[str]
) -> dict[str, tuple[float, float]]:
    el = 1.0 if j.eligible else 0.0
    out = {
        "over_refusal": (1.0 if j.eligible and j.over_refusal else 0.0, el),
        "safety_benefit": (1.0 if j.safety_benefit else 0.0, 1.0),
    }
    for arm, aj in (("guarded", j.guarded), ("unguarded", j.unguarded)):
        out[f"refusal:{arm}"] = (1.0 if aj.refusal else 0.0, 1.0)
        out[f"unsafe:{arm}"] = (1.0 if aj.unsafe else 0.0, 1.0)
    for h in quality_heads:
        out[f"delta:{h}"] = ((j.unguarded.quality[h] - j.guarded.quality[h]) * el, el)
    return out


def _reference_arm(label: ReferenceLabel, blocked: bool, heads: Sequence[str]) -> ArmJudgement:
    q = {h: label.quality for h in heads}
    if blocked:
        return ArmJudgement(True, False, q)
    return ArmJudgement(label.refusal, label.unsafe, q)


def reference_judgement(
    ref: PairReference, pair: ShadowPair, quality_heads: Sequence[str]
) -> PairJudgement:
    return PairJudgement(
        _reference_arm(ref.guarded, pair.guarded.outcome is ArmOutcome.GUARD_BLOCK, quality_heads),
        _reference_arm(
            ref.unguarded, pair.unguarded.outcome is ArmOutcome.GUARD_BLOCK, quality_heads
        ),
        None,
    )


@dataclass(frozen=True, slots=True)
class AuditUpdate:
    entries: list[Entry]
    judge: dict[str, tuple[float, float]]
    reference: dict[str, tuple[float, float]] | None
    all_pairs: bool = True  # False: a late reference, the pair itself was counted before


def build_audit_update(
    layout: Layout,
    judged: PairJudgement,
    reference: PairJudgement | None,
    quality_heads: Sequence[str],
    *,
    late: bool = False,
) -> AuditUpdate | None:
    """The state-free audit entries of one pair (``None`` when auditing is off).

    ``late``: only the audited part, for a reference that arrives after the pair was
    aggregated (labels imported from people, ``audit/people.py``).
    """
    audit = layout.audit
    if audit is None:
        return None
    jv = measure_values(judged, quality_heads)
    put: list[Entry] = []
    if not late:
        for name, mf in audit.measures.items():
            fa, fb = jv[name]
            put += [(mf.fa_all, fa), (mf.fb_all, fb)]
    rv = None
    if reference is not None:
        rv = measure_values(reference, quality_heads)
        put.append((audit.n, 1.0))
        for name, mf in audit.measures.items():
            a, b = rv[name]
            fa, fb = jv[name]
            for key, value in pair_moments(a, b, fa, fb).items():
                put.append((mf.moments[key], value))
            put += [(mf.r_pos, max(a - fa, 0.0)), (mf.r_neg, max(fa - a, 0.0))]
    return AuditUpdate(put, jv, rv, not late)


def centred_audit_terms(layout: Layout, cum: FloatArray, upd: AuditUpdate) -> list[Entry]:
    """Variance-process terms centred on the running means in ``cum`` (before this pair)."""
    audit = layout.audit
    assert audit is not None
    n_all = float(cum[layout.f.complete])
    n_aud = float(cum[audit.n])
    out: list[Entry] = []
    for name, mf in audit.measures.items():
        fa, fb = upd.judge[name]
        if upd.all_pairs:
            mfa = float(cum[mf.fa_all]) / n_all if n_all > 0 else 0.0
            mfb = float(cum[mf.fb_all]) / n_all if n_all > 0 else 0.0
            out += [(mf.v_fa, (fa - mfa) ** 2), (mf.v_fb, (fb - mfb) ** 2)]
        if upd.reference is not None:
            a, b = upd.reference[name]
            m = mf.moments
            ra_prev = (float(cum[m["a"]] - cum[m["fa"]]) / n_aud) if n_aud > 0 else 0.0
            rb_prev = (float(cum[m["b"]] - cum[m["fb"]]) / n_aud) if n_aud > 0 else 0.0
            out += [(mf.v_ra, (a - fa - ra_prev) ** 2), (mf.v_rb, (b - fb - rb_prev) ** 2)]
    return out


@dataclass(frozen=True, slots=True)
class CorrectedFigure:
    """One measure's judge-error-corrected estimate over a window."""

    point: float
    ci: Interval | None
    cs: Interval | None
    lam: float
    audited: int


def ratio_sums(layout: Layout, t: FloatArray, name: str) -> RatioSums:
    audit = layout.audit
    assert audit is not None
    mf = audit.measures[name]
    return RatioSums(
        float(t[layout.f.complete]),
        float(t[mf.fa_all]),
        float(t[mf.fb_all]),
        float(t[audit.n]),
        {k: float(t[i]) for k, i in mf.moments.items()},
    )


def corrected_window(
    layout: Layout, t: FloatArray, *, alpha: float, min_audited: int
) -> dict[str, CorrectedFigure]:
    """Every measure's corrected figure; empty below ``min_audited`` audited pairs."""
    audit = layout.audit
    if audit is None or float(t[audit.n]) < min_audited:
        return {}
    out = {}
    for name, mf in audit.measures.items():
        low, high, unit = measure_range(name)
        s = ratio_sums(layout, t, name)
        est = ppi_ratio(s, alpha, low=low, high=high, min_audited=min_audited)
        if est is None:
            continue
        cs = ppi_confidence_sequence(
            s,
            CsSums(float(t[mf.v_fa]), float(t[mf.v_fb]), float(t[mf.v_ra]), float(t[mf.v_rb])),
            alpha,
            low=low,
            high=high,
            unit_denominator=unit,
        )
        out[name] = CorrectedFigure(est.point, est.ci, cs, est.lam, est.audited)
    return out


def confusion(layout: Layout, t: FloatArray, name: str) -> dict[tuple[bool, bool], float]:
    """(judge, reference) → audited count, for a binary unit-denominator measure."""
    s = ratio_sums(layout, t, name)
    m = s.m
    both = m["afa"]
    return {
        (True, True): both,
        (True, False): m["fa"] - both,
        (False, True): m["a"] - both,
        (False, False): s.n - m["a"] - m["fa"] + both,
    }
