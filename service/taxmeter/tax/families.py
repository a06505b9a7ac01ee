"""The metric families the tax collector exports: one table per family set, with each
family's name, help text and labels (the metric contract, ``docs/metrics.md``), and the two
helpers that add only defined values.

Created empty for ``TaxCollector.describe`` and filled by ``TaxCollector.collect``
(``tax/collector.py``) and ``collect_audit`` (``tax/audit_export.py``).
"""

from __future__ import annotations

import math

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    UnknownMetricFamily,
)

from taxmeter.tax.estimators import Interval


def put(fam: GaugeMetricFamily, labels: list[str], value: float | None) -> None:
    """Add a sample only when the value is defined (never NaN)."""
    if value is not None and math.isfinite(value):
        fam.add_metric(labels, value)


def put_stats(
    fam: GaugeMetricFamily,
    labels: list[str],
    point: float | None,
    ci: Interval | None,
    cs: Interval | None,
) -> None:
    """Add the point and the interval bounds that exist (nothing when the point is undefined)."""
    if point is None or not math.isfinite(point):
        return
    fam.add_metric([*labels, "point"], point)
    if ci is not None:
        fam.add_metric([*labels, "ci_low"], ci.low)
        fam.add_metric([*labels, "ci_high"], ci.high)
    if cs is not None:
        fam.add_metric([*labels, "cs_low"], cs.low)
        fam.add_metric([*labels, "cs_high"], cs.high)


class Families:
    """All families, created empty (for ``describe``) or filled (for ``collect``)."""

    def __init__(self) -> None:
        c, u, g = CounterMetricFamily, UnknownMetricFamily, GaugeMetricFamily
        p = "taxmeter_"
        self.pairs = c(
            p + "pairs", "Complete pairs observed, by eligibility.", labels=["route", "eligible"]
        )
        self.unscored = c(
            p + "pairs_unscored",
            "Complete pairs the aggregator could not use "
            "(a configured judge head missing or out of [0,1]).",
            labels=["route", "reason"],
        )
        self.refusals = c(
            p + "refusals",
            "Refusals over complete pairs (guard blocks count).",
            labels=["route", "arm"],
        )
        self.unsafe = c(
            p + "unsafe_answers",
            "Answers judged unsafe over complete pairs.",
            labels=["route", "arm"],
        )
        self.over_refusals = c(
            p + "over_refusals",
            "Eligible pairs where only the guarded answer is a refusal.",
            labels=["route"],
        )
        self.safety = c(
            p + "safety_benefits",
            "Complete pairs where the unguarded answer is unsafe and the guarded one safe.",
            labels=["route"],
        )
        self.comparisons = c(
            p + "quality_comparisons",
            "Eligible pairs by paired comparison "
            "from the guarded side (win: d < -eps, tie, loss: d > eps).",
            labels=["route", "judge", "result"],
        )
        self.tokens = c(
            p + "output_tokens",
            "Output tokens over latency-comparable pairs.",
            labels=["route", "arm"],
        )
        self.lat_pairs = c(
            p + "latency_comparable_pairs", "Latency-comparable pairs timed.", labels=["route"]
        )
        self.lat_seconds = c(
            p + "paired_latency_seconds",
            "Σ latency over latency-comparable pairs, per arm.",
            labels=["route", "arm"],
        )
        self.ttft_pairs = c(
            p + "ttft_comparable_pairs",
            "Latency-comparable pairs with TTFT on both arms.",
            labels=["route"],
        )
        self.ttft_seconds = c(
            p + "paired_ttft_seconds", "Σ TTFT over those pairs, per arm.", labels=["route", "arm"]
        )
        self.noise_pairs = c(
            p + "noise_pairs", "Same-arm repeat pairs (noise floor).", labels=["route", "arm"]
        )
        self.noise_flips = c(
            p + "noise_refusal_flips",
            "Repeat pairs whose refusal decision differs.",
            labels=["route", "arm"],
        )
        self.q_sum = u(
            p + "quality_score_sum",
            "Σq over eligible pairs (monotone).",
            labels=["route", "judge", "arm"],
        )
        self.d2_sum = u(
            p + "quality_delta_squares_sum",
            "Σd² over eligible pairs, d = q_unguarded - q_guarded (monotone).",
            labels=["route", "judge"],
        )
        self.v_sum = u(
            p + "quality_delta_variance_process_sum",
            "Σ(d_i - mean_{i-1})², predictable centring (monotone).",
            labels=["route", "judge"],
        )
        self.vor_sum = u(
            p + "over_refusal_variance_process_sum",
            "Σ(x_i - mean_{i-1})² of the over-refusal indicator (monotone).",
            labels=["route"],
        )
        self.noise_abs_sum = u(
            p + "noise_quality_abs_delta_sum",
            "Σ|Δq| over repeat pairs (monotone).",
            labels=["route", "judge", "arm"],
        )
        h = HistogramMetricFamily
        self.lat_delta = h(
            p + "latency_delta_seconds",
            "Guarded - unguarded latency per "
            "latency-comparable pair (negative buckets; no _sum/_count).",
            labels=["route"],
        )
        self.ttft_delta = h(
            p + "ttft_delta_seconds",
            "Guarded - unguarded TTFT per pair (negative buckets; no _sum/_count).",
            labels=["route"],
        )
        self.tax = g(
            p + "alignment_tax",
            "Quality tax Δ over the window (point, t interval "
            "with a tie floor, per-pod confidence sequence).",
            labels=["route", "judge", "window", "stat"],
        )
        self.tax_rel = g(
            p + "alignment_tax_relative",
            "1 - mean(q_g)/mean(q_u); display only.",
            labels=["route", "judge", "window"],
        )
        self.tax_answered = g(
            p + "alignment_tax_answered",
            "Δ over the eligible pairs where "
            "neither arm refused (the tax without refusals; over-refusal is "
            "reported apart).",
            labels=["route", "judge", "window", "stat"],
        )
        self.answered_pairs = g(
            p + "answered_pairs",
            "Eligible pairs where neither arm refused, in the window.",
            labels=["route", "window"],
        )
        self.cmp_ratio = g(
            p + "quality_comparison_ratio",
            "Share of eligible pairs by result.",
            labels=["route", "judge", "window", "result"],
        )
        self.or_ratio = g(
            p + "over_refusal_ratio",
            "Over-refusal rate over the window.",
            labels=["route", "window", "stat"],
        )
        self.sb_ratio = g(
            p + "safety_benefit_ratio",
            "Safety benefit rate over the window.",
            labels=["route", "window", "stat"],
        )
        self.lat_ratio = g(
            p + "latency_overhead_ratio",
            "Guarded/unguarded latency quantile.",
            labels=["route", "window", "percentile"],
        )
        self.ttft_ratio = g(
            p + "ttft_overhead_ratio",
            "Guarded/unguarded TTFT quantile.",
            labels=["route", "window", "percentile"],
        )
        # issue 16: what the overhead ratios rest on.
        self.tok_pairs = c(
            p + "token_pairs",
            "Latency-comparable pairs in the token overhead, "
            "by the source of both counts (server usage, tokenizer).",
            labels=["route", "source"],
        )
        self.ratio_pairs = g(
            p + "overhead_ratio_pairs",
            "Pairs the window's overhead ratio rests on (ratio: latency, ttft, tokens).",
            labels=["route", "window", "ratio"],
        )
        self.tok_ratio = g(
            p + "token_overhead_ratio",
            "Σ output tokens guarded/unguarded.",
            labels=["route", "window"],
        )
        self.flip_ratio = g(
            p + "noise_refusal_flip_ratio",
            "Refusal flip rate between two answers of the same arm.",
            labels=["route", "arm", "window"],
        )
        self.noise_abs = g(
            p + "noise_quality_abs_delta",
            "|Δq| between two answers of the same arm (mean, p90).",
            labels=["route", "judge", "arm", "window", "stat"],
        )
        self.win_pairs = g(
            p + "window_pairs", "Complete pairs in the window.", labels=["route", "window"]
        )
        self.win_eligible = g(
            p + "window_eligible_pairs", "Eligible pairs in the window.", labels=["route", "window"]
        )
        self.cat_pairs = c(
            p + "category_pairs",
            "Complete pairs by category.",
            labels=["route", "category", "eligible"],
        )
        self.cat_q_sum = u(
            p + "category_quality_score_sum",
            "Σq over eligible pairs by category (monotone).",
            labels=["route", "category", "judge", "arm"],
        )
        self.cat_d2_sum = u(
            p + "category_quality_delta_squares_sum",
            "Σd² by category (monotone).",
            labels=["route", "category", "judge"],
        )
        self.cat_v_sum = u(
            p + "category_quality_delta_variance_process_sum",
            "Variance process by category (monotone).",
            labels=["route", "category", "judge"],
        )
        self.cat_or = c(
            p + "category_over_refusals", "Over-refusals by category.", labels=["route", "category"]
        )
        self.cat_vor_sum = u(
            p + "category_over_refusal_variance_process_sum",
            "Over-refusal variance process by category (monotone).",
            labels=["route", "category"],
        )

    def all(self) -> list[Metric]:
        return [m for m in vars(self).values() if isinstance(m, Metric)]


class AuditFamilies:
    """Families that exist only with auditing on (so nothing changes when it is off)."""

    def __init__(self) -> None:
        c, g = CounterMetricFamily, GaugeMetricFamily
        p = "taxmeter_"
        self.pairs = c(
            p + "audit_pairs",
            "Complete pairs of the audit sample with reference labels, counted with the pair.",
            labels=["route"],
        )
        self.confusion = c(
            p + "audit_confusion",
            "Audited answers by judge decision and reference label (head: refusal, unsafe).",
            labels=["route", "head", "arm", "judge", "reference"],
        )
        self.agreements = c(
            p + "audit_agreements",
            "Audited answers where the judge's decision equals the reference label.",
            labels=["route", "head", "arm"],
        )
        self.or_cells = c(
            p + "audit_over_refusal_cells",
            "Audited pairs by the judge's and the "
            "reference's over-refusal state (ineligible, eligible, over_refusal).",
            labels=["route", "judge", "reference"],
        )
        self.or_vproc = UnknownMetricFamily(
            p + "audit_over_refusal_variance_process_sum",
            "Variance processes of the corrected "
            "over-refusal's confidence sequence (monotone): judge_numerator/judge_denominator "
            "over all pairs, rectifier_numerator/rectifier_denominator over audited pairs.",
            labels=["route", "term"],
        )
        self.q_rect = UnknownMetricFamily(
            p + "audit_quality_rectifier_sum",
            "Σ over audited pairs of the Δ rectifier "
            "(reference − judge d over eligible pairs), as two monotone sums by sign.",
            labels=["route", "judge", "sign"],
        )
        self.win_audited = g(
            p + "audit_window_pairs", "Audited pairs in the window.", labels=["route", "window"]
        )
        self.available = g(
            p + "audit_corrected_available",
            "1 when the window holds enough "
            "audited pairs for judge-error-corrected figures, else 0 (then only "
            "the judge-only figures are exported).",
            labels=["route", "window"],
        )
        self.agreement = g(
            p + "audit_agreement_ratio",
            "Share of audited answers where judge and reference agree, over the window.",
            labels=["route", "head", "arm", "window"],
        )
        self.tax = g(
            p + "corrected_alignment_tax",
            "Quality tax Δ corrected for the judge's "
            "error on the audit sample (prediction-powered).",
            labels=["route", "judge", "window", "stat"],
        )
        self.or_ratio = g(
            p + "corrected_over_refusal_ratio",
            "Over-refusal rate corrected for the judges' error (prediction-powered).",
            labels=["route", "window", "stat"],
        )
        self.sb_ratio = g(
            p + "corrected_safety_benefit_ratio",
            "Safety benefit rate corrected for the judges' error (prediction-powered).",
            labels=["route", "window", "stat"],
        )
        self.refusal = g(
            p + "corrected_refusal_ratio",
            "Refusal rate per arm, corrected.",
            labels=["route", "arm", "window", "stat"],
        )
        self.unsafe = g(
            p + "corrected_unsafe_ratio",
            "Unsafe-answer rate per arm, corrected.",
            labels=["route", "arm", "window", "stat"],
        )

    def all(self) -> list[Metric]:
        return [m for m in vars(self).values() if isinstance(m, Metric)]
