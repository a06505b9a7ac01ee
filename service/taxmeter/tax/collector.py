"""Scrape-time export of the tax aggregator's state (a custom Prometheus collector).

``collect`` takes one snapshot under the aggregator's lock (copies of a few vectors per
route), then builds metric families outside it. Counters come from all-time sums; gauges
from the window sums, through the same ``summarize_window`` that the terminal view uses.
Undefined estimates (empty window, one sample) are omitted, never NaN.

Monotone sums whose names end in ``_sum`` are exported *untyped*: client_python would append
``_total`` to a counter's name, and the contract names are fixed. Treat them as counters
(``increase()``/``rate()``); they only grow (reset on restart).

The families (names, help texts, labels) are declared in ``tax/families.py``; the audit part
of a scrape is filled by ``tax/audit_export.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from taxmeter.tax.audit_export import collect_audit
from taxmeter.tax.config import TaxConfig
from taxmeter.tax.families import AuditFamilies, Families, put, put_stats
from taxmeter.tax.layout import ARMS, DELTA_EXPORT_BOUNDS, Layout
from taxmeter.tax.summary import RouteSnapshot, summarize_window


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


class TaxCollector(Collector):
    """Registered on the app's registry by ``app.py``: ``registry.register(TaxCollector(agg))``."""

    def __init__(self, aggregator: TaxSource) -> None:
        self._agg = aggregator

    def describe(self) -> Iterator[Metric]:
        audit = AuditFamilies().all() if self._agg.layout.audit is not None else []
        return iter(Families().all() + audit)

    def collect(self) -> Iterator[Metric]:
        agg = self._agg
        layout = agg.layout
        cfg = agg.config
        f = layout.f
        m = Families()
        am = AuditFamilies() if layout.audit is not None else None
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
            for hist, sl in (
                (m.lat_delta, layout.lat_delta_export),
                (m.ttft_delta, layout.ttft_delta_export),
            ):
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
                s = summarize_window(
                    layout,
                    window,
                    t,
                    alpha=cfg.alpha,
                    min_pairs_for_bounds=cfg.min_pairs_for_bounds,
                    min_audited=min_audited,
                )
                summaries.append((window, t, s))
                m.win_pairs.add_metric([r, window], s.pairs)
                m.win_eligible.add_metric([r, window], s.eligible)
                answered = next(iter(s.quality.values())).answered if s.quality else None
                if answered is not None:
                    m.answered_pairs.add_metric([r, window], answered.pairs)
                for head, q in s.quality.items():
                    put_stats(m.tax, [r, head, window], q.point, q.ci, q.cs)
                    if q.answered is not None:
                        put_stats(
                            m.tax_answered, [r, head, window], q.answered.point, q.answered.ci, None
                        )
                    put(m.tax_rel, [r, head, window], q.relative)
                    for result, x in (("win", q.win), ("tie", q.tie), ("loss", q.loss)):
                        put(m.cmp_ratio, [r, head, window, result], x)
                put_stats(
                    m.or_ratio,
                    [r, window],
                    s.over_refusal.point,
                    s.over_refusal.ci,
                    s.over_refusal.cs,
                )
                put_stats(
                    m.sb_ratio, [r, window], s.safety_benefit.point, s.safety_benefit.ci, None
                )
                for gauge, lat in ((m.lat_ratio, s.latency), (m.ttft_ratio, s.ttft)):
                    put(gauge, [r, window, "p50"], lat.p50_ratio)
                    put(gauge, [r, window, "p95"], lat.p95_ratio)
                put(m.tok_ratio, [r, window], s.token_overhead)
                m.ratio_pairs.add_metric([r, window, "latency"], s.latency.pairs)
                m.ratio_pairs.add_metric([r, window, "ttft"], s.ttft.pairs)
                m.ratio_pairs.add_metric(
                    [r, window, "tokens"], float(t[f.tok_n_server] + t[f.tok_n_tokenizer])
                )
                for arm, ns in s.noise.items():
                    put(m.flip_ratio, [r, arm, window], ns.flip_ratio)
                    for head in layout.heads:
                        put(
                            m.noise_abs, [r, head, arm, window, "mean"], ns.abs_delta_mean.get(head)
                        )
                        put(m.noise_abs, [r, head, arm, window, "p90"], ns.abs_delta_p90.get(head))
            if am is not None:
                collect_audit(am, layout, r, c, summaries)
        return iter(m.all() + (am.all() if am is not None else []))
