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
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    UnknownMetricFamily,
)
from prometheus_client.registry import Collector

from taxmeter.tax.estimators import Interval
from taxmeter.tax.layout import ARMS, DELTA_EXPORT_BOUNDS
from taxmeter.tax.summary import summarize_window

if TYPE_CHECKING:
    from taxmeter.tax.aggregator import TaxAggregator

_ARM_FIELDS = {"guarded": "g", "unguarded": "u"}


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
        self.tok_ratio = g(p + "token_overhead_ratio", "Σ output tokens guarded/unguarded.",
                           labels=["route", "window"])
        # issue 16: what the overhead ratios rest on.
        self.tok_pairs = c(p + "token_pairs", "Latency-comparable pairs in the token overhead, "
                           "by the source of both counts (server usage, tokenizer).",
                           labels=["route", "source"])
        self.ratio_pairs = g(p + "overhead_ratio_pairs", "Pairs the window's overhead ratio "
                             "rests on (ratio: latency, ttft, tokens).",
                             labels=["route", "window", "ratio"])
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


class TaxCollector(Collector):
    def __init__(self, aggregator: TaxAggregator) -> None:
        self._agg = aggregator

    def describe(self) -> Iterator[Metric]:
        return iter(_Families().all())

    def collect(self) -> Iterator[Metric]:
        agg = self._agg
        layout = agg.layout
        cfg = agg.config
        f = layout.f
        m = _Families()
        for snap in agg.snapshot():
            r = snap.route
            c = snap.cum
            for reason, count in sorted(snap.unscored.items()):
                m.unscored.add_metric([r, reason], count)
            if c[f["complete"]] == 0 and not snap.categories:
                continue
            eligible = float(c[f["eligible"]])
            m.pairs.add_metric([r, "true"], eligible)
            m.pairs.add_metric([r, "false"], float(c[f["complete"]]) - eligible)
            for arm, a in _ARM_FIELDS.items():
                m.refusals.add_metric([r, arm], float(c[f["refusals_" + a]]))
                m.unsafe.add_metric([r, arm], float(c[f["unsafe_" + a]]))
                m.tokens.add_metric([r, arm], float(c[f["tok_" + a]]))
                m.lat_seconds.add_metric([r, arm], float(c[f["lat_sum_" + a]]))
                m.ttft_seconds.add_metric([r, arm], float(c[f["ttft_sum_" + a]]))
            m.over_refusals.add_metric([r], float(c[f["over_refusals"]]))
            m.vor_sum.add_metric([r], float(c[f["v_or"]]))
            m.safety.add_metric([r], float(c[f["safety_benefits"]]))
            m.lat_pairs.add_metric([r], float(c[f["lat_n"]]))
            for source in ("server", "tokenizer"):
                m.tok_pairs.add_metric([r, source], float(c[f["tok_n_" + source]]))
            m.ttft_pairs.add_metric([r], float(c[f["ttft_n"]]))
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
                ce = float(v[f["eligible"]])
                m.cat_pairs.add_metric([r, cat, "true"], ce)
                m.cat_pairs.add_metric([r, cat, "false"], float(v[f["complete"]]) - ce)
                m.cat_or.add_metric([r, cat], float(v[f["over_refusals"]]))
                m.cat_vor_sum.add_metric([r, cat], float(v[f["v_or"]]))
                for head, hf in layout.heads.items():
                    m.cat_q_sum.add_metric([r, cat, head, "guarded"], float(v[hf.qg]))
                    m.cat_q_sum.add_metric([r, cat, head, "unguarded"], float(v[hf.qu]))
                    m.cat_d2_sum.add_metric([r, cat, head], float(v[hf.d2]))
                    m.cat_v_sum.add_metric([r, cat, head], float(v[hf.v]))

            for window, t in zip(agg.window_names, snap.windows, strict=True):
                s = summarize_window(layout, window, t, alpha=cfg.alpha,
                                     min_pairs_for_bounds=cfg.min_pairs_for_bounds)
                m.win_pairs.add_metric([r, window], s.pairs)
                m.win_eligible.add_metric([r, window], s.eligible)
                for head, q in s.quality.items():
                    _stats(m.tax, [r, head, window], q.point, q.ci, q.cs)
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
                m.ratio_pairs.add_metric(
                    [r, window, "tokens"],
                    float(t[f["tok_n_server"]] + t[f["tok_n_tokenizer"]]))
                for arm, ns in s.noise.items():
                    _put(m.flip_ratio, [r, arm, window], ns.flip_ratio)
                    for head in layout.heads:
                        _put(m.noise_abs, [r, head, arm, window, "mean"],
                             ns.abs_delta_mean.get(head))
                        _put(m.noise_abs, [r, head, arm, window, "p90"],
                             ns.abs_delta_p90.get(head))
        return iter(m.all())


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
