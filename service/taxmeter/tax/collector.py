"""Scrape-time export of the tax aggregator's state (a custom Prometheus collector).

``collect`` takes one snapshot under the aggregator's lock (copies of a few vectors per
route), then builds metric families outside it. Counters come from all-time sums; gauges
from the window sums, through the same ``summarize_window`` that the terminal view uses.
Undefined estimates (empty window, one sample) are omitted, never NaN.

Monotone sums whose names end in ``_sum`` are exported *untyped*: client_python would append
``_total`` to a counter's name, and the contract names are fixed. Treat them as counters
(``increase()``/``rate()``); they only grow (reset on restart).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    UnknownMetricFamily,
)
from prometheus_client.registry import Collector

from taxmeter.tax.audit_stats import BINARY_HEADS, confusion, ratio_sums
from taxmeter.tax.config import TaxConfig
from taxmeter.tax.estimators import Interval
from taxmeter.tax.layout import ARMS, DELTA_EXPORT_BOUNDS, Layout
from taxmeter.tax.ppi import RatioSums
from taxmeter.tax.sketch import FloatArray
from taxmeter.tax.summary import RouteSnapshot, WindowSummary, summarize_window


class TaxSource(Protocol):
    """What the collector reads (the tax aggregator implements it)."""

    @property
    def config(self) -> TaxConfig: ...

    @property
    def layout(self) -> Layout: ...

    @property
    def window_names(self) -> list[str]: ...

    @property
    def audit_min_pairs(self) -> int | None: ...

    def snapshot(self, only: str | None = None) -> list[RouteSnapshot]: ...


def _put(fam: GaugeMetricFamily, labels: list[str], value: float | None) -> None:
    """Add a sample only when the value is defined (never NaN)."""
    if value is not None and math.isfinite(value):
        fam.add_metric(labels, value)


class _Families:
    """All families, created empty (for ``describe``) or filled (for ``collect``)."""

    def __init__(self) -> None:
        c, u, g = CounterMetricFamily, UnknownMetricFamily, GaugeMetricFamily
        p = "taxmeter_"
        self.pairs = c(p + "pairs", "Complete pairs observed, by eligibility.",
                       labels=["route", "eligible"])
        self.unscored = c(p + "pairs_unscored", "Complete pairs the aggregator could not use "
                          "(a configured judge head missing or out of [0,1]).",
                          labels=["route", "reason"])
        self.refusals = c(p + "refusals", "Refusals over complete pairs (guard blocks count).",
                          labels=["route", "arm"])
        self.unsafe = c(p + "unsafe_answers", "Answers judged unsafe over complete pairs.",
                        labels=["route", "arm"])
        self.over_refusals = c(p + "over_refusals", "Eligible pairs where only the guarded "
                               "answer is a refusal.", labels=["route"])
        self.safety = c(p + "safety_benefits", "Complete pairs where the unguarded answer is "
                        "unsafe and the guarded one safe.", labels=["route"])
        self.comparisons = c(p + "quality_comparisons", "Eligible pairs by paired comparison "
                             "from the guarded side (win: d < -eps, tie, loss: d > eps).",
                             labels=["route", "judge", "result"])
        self.tokens = c(p + "output_tokens", "Output tokens over latency-comparable pairs.",
                        labels=["route", "arm"])
        self.lat_pairs = c(p + "latency_comparable_pairs", "Latency-comparable pairs timed.",
                           labels=["route"])
        self.lat_seconds = c(p + "paired_latency_seconds", "Σ latency over latency-comparable "
                             "pairs, per arm.", labels=["route", "arm"])
        self.ttft_pairs = c(p + "ttft_comparable_pairs", "Latency-comparable pairs with TTFT "
                            "on both arms.", labels=["route"])
        self.ttft_seconds = c(p + "paired_ttft_seconds", "Σ TTFT over those pairs, per arm.",
                              labels=["route", "arm"])
        self.noise_pairs = c(p + "noise_pairs", "Same-arm repeat pairs (noise floor).",
                             labels=["route", "arm"])
        self.noise_flips = c(p + "noise_refusal_flips", "Repeat pairs whose refusal decision "
                             "differs.", labels=["route", "arm"])
        self.q_sum = u(p + "quality_score_sum", "Σq over eligible pairs (monotone).",
                       labels=["route", "judge", "arm"])
        self.d2_sum = u(p + "quality_delta_squares_sum", "Σd² over eligible pairs, "
                        "d = q_unguarded - q_guarded (monotone).", labels=["route", "judge"])
        self.v_sum = u(p + "quality_delta_variance_process_sum", "Σ(d_i - mean_{i-1})², "
                       "predictable centring (monotone).", labels=["route", "judge"])
        self.vor_sum = u(p + "over_refusal_variance_process_sum", "Σ(x_i - mean_{i-1})² of the "
                         "over-refusal indicator (monotone).", labels=["route"])
        self.noise_abs_sum = u(p + "noise_quality_abs_delta_sum", "Σ|Δq| over repeat pairs "
                               "(monotone).", labels=["route", "judge", "arm"])
        h = HistogramMetricFamily
        self.lat_delta = h(p + "latency_delta_seconds", "Guarded - unguarded latency per "
                           "latency-comparable pair (negative buckets; no _sum/_count).",
                           labels=["route"])
        self.ttft_delta = h(p + "ttft_delta_seconds", "Guarded - unguarded TTFT per pair "
                            "(negative buckets; no _sum/_count).", labels=["route"])
        self.tax = g(p + "alignment_tax", "Quality tax Δ over the window (point, t interval "
                     "with a tie floor, per-pod confidence sequence).",
                     labels=["route", "judge", "window", "stat"])
        self.tax_rel = g(p + "alignment_tax_relative", "1 - mean(q_g)/mean(q_u); display only.",
                         labels=["route", "judge", "window"])
        self.tax_answered = g(p + "alignment_tax_answered", "Δ over the eligible pairs where "
                              "neither arm refused (the tax without refusals; over-refusal is "
                              "reported apart).", labels=["route", "judge", "window", "stat"])
        self.answered_pairs = g(p + "answered_pairs", "Eligible pairs where neither arm "
                                "refused, in the window.", labels=["route", "window"])
        self.cmp_ratio = g(p + "quality_comparison_ratio", "Share of eligible pairs by result.",
                           labels=["route", "judge", "window", "result"])
        self.or_ratio = g(p + "over_refusal_ratio", "Over-refusal rate over the window.",
                          labels=["route", "window", "stat"])
        self.sb_ratio = g(p + "safety_benefit_ratio", "Safety benefit rate over the window.",
                          labels=["route", "window", "stat"])
        self.lat_ratio = g(p + "latency_overhead_ratio", "Guarded/unguarded latency quantile.",
                           labels=["route", "window", "percentile"])
        self.ttft_ratio = g(p + "ttft_overhead_ratio", "Guarded/unguarded TTFT quantile.",
                            labels=["route", "window", "percentile"])
        # issue 16: what the overhead ratios rest on.
        self.tok_pairs = c(p + "token_pairs", "Latency-comparable pairs in the token overhead, "
                           "by the source of both counts (server usage, tokenizer).",
                           labels=["route", "source"])
        self.ratio_pairs = g(p + "overhead_ratio_pairs", "Pairs the window's overhead ratio "
                             "rests on (ratio: latency, ttft, tokens).",
                             labels=["route", "window", "ratio"])
        self.tok_ratio = g(p + "token_overhead_ratio", "Σ output tokens guarded/unguarded.",
                           labels=["route", "window"])
        self.flip_ratio = g(p + "noise_refusal_flip_ratio", "Refusal flip rate between two "
                            "answers of the same arm.", labels=["route", "arm", "window"])
        self.noise_abs = g(p + "noise_quality_abs_delta", "|Δq| between two answers of the same "
                           "arm (mean, p90).", labels=["route", "judge", "arm", "window", "stat"])
        self.win_pairs = g(p + "window_pairs", "Complete pairs in the window.",
                           labels=["route", "window"])
        self.win_eligible = g(p + "window_eligible_pairs", "Eligible pairs in the window.",
                              labels=["route", "window"])
        self.cat_pairs = c(p + "category_pairs", "Complete pairs by category.",
                           labels=["route", "category", "eligible"])
        self.cat_q_sum = u(p + "category_quality_score_sum", "Σq over eligible pairs by "
                           "category (monotone).", labels=["route", "category", "judge", "arm"])
        self.cat_d2_sum = u(p + "category_quality_delta_squares_sum", "Σd² by category "
                            "(monotone).", labels=["route", "category", "judge"])
        self.cat_v_sum = u(p + "category_quality_delta_variance_process_sum", "Variance process "
                           "by category (monotone).", labels=["route", "category", "judge"])
        self.cat_or = c(p + "category_over_refusals", "Over-refusals by category.",
                        labels=["route", "category"])
        self.cat_vor_sum = u(p + "category_over_refusal_variance_process_sum", "Over-refusal "
                             "variance process by category (monotone).",
                             labels=["route", "category"])

    def all(self) -> list[Metric]:
        return [m for m in vars(self).values() if isinstance(m, Metric)]


class _AuditFamilies:
    """Families that exist only with auditing on (so nothing changes when it is off)."""

    def __init__(self) -> None:
        c, g = CounterMetricFamily, GaugeMetricFamily
        p = "taxmeter_"
        self.pairs = c(p + "audit_pairs", "Complete pairs of the audit sample with reference "
                       "labels, counted with the pair.", labels=["route"])
        self.confusion = c(p + "audit_confusion", "Audited answers by judge decision and "
                           "reference label (head: refusal, unsafe).",
                           labels=["route", "head", "arm", "judge", "reference"])
        self.agreements = c(p + "audit_agreements", "Audited answers where the judge's decision "
                            "equals the reference label.", labels=["route", "head", "arm"])
        self.or_cells = c(p + "audit_over_refusal_cells", "Audited pairs by the judge's and the "
                          "reference's over-refusal state (ineligible, eligible, over_refusal).",
                          labels=["route", "judge", "reference"])
        self.or_vproc = UnknownMetricFamily(
            p + "audit_over_refusal_variance_process_sum", "Variance processes of the corrected "
            "over-refusal's confidence sequence (monotone): judge_numerator/judge_denominator "
            "over all pairs, rectifier_numerator/rectifier_denominator over audited pairs.",
            labels=["route", "term"])
        self.q_rect = UnknownMetricFamily(
            p + "audit_quality_rectifier_sum", "Σ over audited pairs of the Δ rectifier "
            "(reference − judge d over eligible pairs), as two monotone sums by sign.",
            labels=["route", "judge", "sign"])
        self.win_audited = g(p + "audit_window_pairs", "Audited pairs in the window.",
                             labels=["route", "window"])
        self.available = g(p + "audit_corrected_available", "1 when the window holds enough "
                           "audited pairs for judge-error-corrected figures, else 0 (then only "
                           "the judge-only figures are exported).", labels=["route", "window"])
        self.agreement = g(p + "audit_agreement_ratio", "Share of audited answers where judge "
                           "and reference agree, over the window.",
                           labels=["route", "head", "arm", "window"])
        self.tax = g(p + "corrected_alignment_tax", "Quality tax Δ corrected for the judge's "
                     "error on the audit sample (prediction-powered).",
                     labels=["route", "judge", "window", "stat"])
        self.or_ratio = g(p + "corrected_over_refusal_ratio", "Over-refusal rate corrected for "
                          "the judges' error (prediction-powered).",
                          labels=["route", "window", "stat"])
        self.sb_ratio = g(p + "corrected_safety_benefit_ratio", "Safety benefit rate corrected "
                          "for the judges' error (prediction-powered).",
                          labels=["route", "window", "stat"])
        self.refusal = g(p + "corrected_refusal_ratio", "Refusal rate per arm, corrected.",
                         labels=["route", "arm", "window", "stat"])
        self.unsafe = g(p + "corrected_unsafe_ratio", "Unsafe-answer rate per arm, corrected.",
                        labels=["route", "arm", "window", "stat"])

    def all(self) -> list[Metric]:
        return [m for m in vars(self).values() if isinstance(m, Metric)]


_OR_STATES = ("ineligible", "eligible", "over_refusal")


def _or_cells(s: RatioSums) -> dict[tuple[str, str], float]:
    """The 3 × 3 (judge, reference) table of the over-refusal measure, from its moments
    (a implies b on both sides, so the nine cells are linear in them)."""
    m, n = s.m, s.n
    c = {
        ("over_refusal", "over_refusal"): m["afa"],
        ("eligible", "over_refusal"): m["afb"] - m["afa"],
        ("ineligible", "over_refusal"): m["a"] - m["afb"],
        ("over_refusal", "eligible"): m["bfa"] - m["afa"],
        ("eligible", "eligible"): m["bfb"] - m["afb"] - m["bfa"] + m["afa"],
        ("ineligible", "eligible"): m["b"] - m["bfb"] - m["a"] + m["afb"],
        ("over_refusal", "ineligible"): m["fa"] - m["bfa"],
        ("eligible", "ineligible"): m["fb"] - m["bfb"] - m["fa"] + m["bfa"],
        ("ineligible", "ineligible"): n - m["b"] - m["fb"] + m["bfb"],
    }
    return {k: max(0.0, round(v, 6)) for k, v in c.items()}


def _collect_audit(a: _AuditFamilies, layout: Layout, r: str, c: FloatArray,
                   windows: list[tuple[str, FloatArray, WindowSummary]]) -> None:
    audit = layout.audit
    assert audit is not None
    a.pairs.add_metric([r], float(c[audit.n]))
    for head in BINARY_HEADS:
        for arm in ARMS:
            cells = confusion(layout, c, f"{head}:{arm}")
            for (j, ref), count in cells.items():
                a.confusion.add_metric([r, head, arm, str(j).lower(), str(ref).lower()], count)
            a.agreements.add_metric([r, head, arm], cells[(True, True)] + cells[(False, False)])
    for (j_state, ref_state), count in _or_cells(ratio_sums(layout, c, "over_refusal")).items():
        a.or_cells.add_metric([r, j_state, ref_state], count)
    mf = audit.measures["over_refusal"]
    for term, i in (("judge_numerator", mf.v_fa), ("judge_denominator", mf.v_fb),
                    ("rectifier_numerator", mf.v_ra), ("rectifier_denominator", mf.v_rb)):
        a.or_vproc.add_metric([r, term], float(c[i]))
    for name, qf in audit.measures.items():
        if name.startswith("delta:"):
            head = name.removeprefix("delta:")
            a.q_rect.add_metric([r, head, "positive"], float(c[qf.r_pos]))
            a.q_rect.add_metric([r, head, "negative"], float(c[qf.r_neg]))
    for window, t, s in windows:
        a.win_audited.add_metric([r, window], s.audited)
        a.available.add_metric([r, window], 1.0 if s.corrected else 0.0)
        if s.audited > 0:
            for head in BINARY_HEADS:
                for arm in ARMS:
                    cells = confusion(layout, t, f"{head}:{arm}")
                    agree = cells[(True, True)] + cells[(False, False)]
                    _put(a.agreement, [r, head, arm, window], agree / s.audited)
        for name, fig in s.corrected.items():
            if name == "over_refusal":
                _stats(a.or_ratio, [r, window], fig.point, fig.ci, fig.cs)
            elif name == "safety_benefit":
                _stats(a.sb_ratio, [r, window], fig.point, fig.ci, fig.cs)
            elif name.startswith("delta:"):
                _stats(a.tax, [r, name.removeprefix("delta:"), window], fig.point, fig.ci,
                       fig.cs)
            else:
                head, arm = name.split(":", 1)
                fam = a.refusal if head == "refusal" else a.unsafe
                _stats(fam, [r, arm, window], fig.point, fig.ci, fig.cs)


class TaxCollector(Collector):
    """Registered on the app's registry by ``app.py``: ``registry.register(TaxCollector(agg))``."""

    def __init__(self, aggregator: TaxSource) -> None:
        self._agg = aggregator

    def describe(self) -> Iterator[Metric]:
        audit = _AuditFamilies().all() if self._agg.layout.audit is not None else []
        return iter(_Families().all() + audit)

    def collect(self) -> Iterator[Metric]:
        agg = self._agg
        layout = agg.layout
        cfg = agg.config
        f = layout.f
        m = _Families()
        am = _AuditFamilies() if layout.audit is not None else None
        min_audited = agg.audit_min_pairs
        for snap in agg.snapshot():
            r = snap.route
            c = snap.cum
            for reason, count in sorted(snap.unscored.items()):
                m.unscored.add_metric([r, reason], count)
            if c[f.complete] == 0 and not snap.categories:
                continue
            eligible = float(c[f.eligible])
            m.pairs.add_metric([r, "true"], eligible)
            m.pairs.add_metric([r, "false"], float(c[f.complete]) - eligible)
            for arm, af in layout.arm.items():
                m.refusals.add_metric([r, arm], float(c[af.refusals]))
                m.unsafe.add_metric([r, arm], float(c[af.unsafe]))
                m.tokens.add_metric([r, arm], float(c[af.tokens]))
                m.lat_seconds.add_metric([r, arm], float(c[af.lat_sum]))
                m.ttft_seconds.add_metric([r, arm], float(c[af.ttft_sum]))
            m.over_refusals.add_metric([r], float(c[f.over_refusals]))
            m.vor_sum.add_metric([r], float(c[f.v_or]))
            m.safety.add_metric([r], float(c[f.safety_benefits]))
            m.lat_pairs.add_metric([r], float(c[f.lat_n]))
            m.ttft_pairs.add_metric([r], float(c[f.ttft_n]))
            m.tok_pairs.add_metric([r, "server"], float(c[f.tok_n_server]))
            m.tok_pairs.add_metric([r, "tokenizer"], float(c[f.tok_n_tokenizer]))
            for head, hf in layout.heads.items():
                m.q_sum.add_metric([r, head, "guarded"], float(c[hf.qg]))
                m.q_sum.add_metric([r, head, "unguarded"], float(c[hf.qu]))
                m.d2_sum.add_metric([r, head], float(c[hf.d2]))
                m.v_sum.add_metric([r, head], float(c[hf.v]))
                for result, i in (("win", hf.win), ("tie", hf.tie), ("loss", hf.loss)):
                    m.comparisons.add_metric([r, head, result], float(c[i]))
            for arm in ARMS:
                nf = layout.noise[arm]
                m.noise_pairs.add_metric([r, arm], float(c[nf.n]))
                m.noise_flips.add_metric([r, arm], float(c[nf.flips]))
                for head, i in nf.abs_sum.items():
                    m.noise_abs_sum.add_metric([r, head, arm], float(c[i]))
            for hist, sl in ((m.lat_delta, layout.lat_delta_export),
                             (m.ttft_delta, layout.ttft_delta_export)):
                counts = c[sl].cumsum()
                buckets = [(repr(b), float(counts[i])) for i, b in enumerate(DELTA_EXPORT_BOUNDS)]
                buckets.append(("+Inf", float(counts[-1])))
                hist.add_metric([r], buckets, None)
            for cat, v in sorted(snap.categories.items()):
                ce = float(v[f.eligible])
                m.cat_pairs.add_metric([r, cat, "true"], ce)
                m.cat_pairs.add_metric([r, cat, "false"], float(v[f.complete]) - ce)
                m.cat_or.add_metric([r, cat], float(v[f.over_refusals]))
                m.cat_vor_sum.add_metric([r, cat], float(v[f.v_or]))
                for head, hf in layout.heads.items():
                    m.cat_q_sum.add_metric([r, cat, head, "guarded"], float(v[hf.qg]))
                    m.cat_q_sum.add_metric([r, cat, head, "unguarded"], float(v[hf.qu]))
                    m.cat_d2_sum.add_metric([r, cat, head], float(v[hf.d2]))
                    m.cat_v_sum.add_metric([r, cat, head], float(v[hf.v]))

            summaries = []
            for window, t in zip(agg.window_names, snap.windows, strict=True):
                s = summarize_window(layout, window, t, alpha=cfg.alpha,
                                     min_pairs_for_bounds=cfg.min_pairs_for_bounds,
                                     min_audited=min_audited)
                summaries.append((window, t, s))
                m.win_pairs.add_metric([r, window], s.pairs)
                m.win_eligible.add_metric([r, window], s.eligible)
                answered = next(iter(s.quality.values())).answered if s.quality else None
                if answered is not None:
                    m.answered_pairs.add_metric([r, window], answered.pairs)
                for head, q in s.quality.items():
                    _stats(m.tax, [r, head, window], q.point, q.ci, q.cs)
                    if q.answered is not None:
                        _stats(m.tax_answered, [r, head, window], q.answered.point,
                               q.answered.ci, None)
                    _put(m.tax_rel, [r, head, window], q.relative)
                    for result, x in (("win", q.win), ("tie", q.tie), ("loss", q.loss)):
                        _put(m.cmp_ratio, [r, head, window, result], x)
                _stats(m.or_ratio, [r, window], s.over_refusal.point, s.over_refusal.ci,
                       s.over_refusal.cs)
                _stats(m.sb_ratio, [r, window], s.safety_benefit.point, s.safety_benefit.ci,
                       None)
                for gauge, lat in ((m.lat_ratio, s.latency), (m.ttft_ratio, s.ttft)):
                    _put(gauge, [r, window, "p50"], lat.p50_ratio)
                    _put(gauge, [r, window, "p95"], lat.p95_ratio)
                _put(m.tok_ratio, [r, window], s.token_overhead)
                m.ratio_pairs.add_metric([r, window, "latency"], s.latency.pairs)
                m.ratio_pairs.add_metric([r, window, "ttft"], s.ttft.pairs)
                m.ratio_pairs.add_metric([r, window, "tokens"],
                                         float(t[f.tok_n_server] + t[f.tok_n_tokenizer]))
                for arm, ns in s.noise.items():
                    _put(m.flip_ratio, [r, arm, window], ns.flip_ratio)
                    for head in layout.heads:
                        _put(m.noise_abs, [r, head, arm, window, "mean"],
                             ns.abs_delta_mean.get(head))
                        _put(m.noise_abs, [r, head, arm, window, "p90"],
                             ns.abs_delta_p90.get(head))
            if am is not None:
                _collect_audit(am, layout, r, c, summaries)
        return iter(m.all() + (am.all() if am is not None else []))


def _stats(fam: GaugeMetricFamily, labels: list[str], point: float | None,
           ci: Interval | None, cs: Interval | None) -> None:
    if point is None or not math.isfinite(point):
        return
    fam.add_metric([*labels, "point"], point)
    if ci is not None:
        fam.add_metric([*labels, "ci_low"], ci.low)
        fam.add_metric([*labels, "ci_high"], ci.high)
    if cs is not None:
        fam.add_metric([*labels, "cs_low"], cs.low)
        fam.add_metric([*labels, "cs_high"], cs.high)
