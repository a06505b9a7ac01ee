"""The audit part of a scrape (families that exist only with auditing on): confusion tables,
agreements, the over-refusal cells and variance processes, and the judge-error-corrected
figures of each window.
"""

from __future__ import annotations

from taxmeter.tax.audit_stats import BINARY_HEADS, confusion, ratio_sums
from taxmeter.tax.families import AuditFamilies, put, put_stats
from taxmeter.tax.layout import ARMS, Layout
from taxmeter.tax.ppi import RatioSums
from taxmeter.tax.sketch import FloatArray
from taxmeter.tax.summary import WindowSummary

_OR_STATES = ("ineligible", "eligible", "over_refusal")


def or_cells(s: RatioSums) -> dict[tuple[str, str], float]:
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


def collect_audit(
    a: AuditFamilies,
    layout: Layout,
    r: str,
    c: FloatArray,
    windows: list[tuple[str, FloatArray, WindowSummary]],
) -> None:
    """Fill the audit families for route ``r``: all-time counts from ``c``, then each
    window's audited count and corrected figures (``windows``: name, sums, summary)."""
    _totals(a, layout, r, c)
    for window, t, s in windows:
        _window(a, layout, r, window, t, s)


def _totals(a: AuditFamilies, layout: Layout, r: str, c: FloatArray) -> None:
    audit = layout.audit
    assert audit is not None
    a.pairs.add_metric([r], float(c[audit.n]))
    for head in BINARY_HEADS:
        for arm in ARMS:
            cells = confusion(layout, c, f"{head}:{arm}")
            for (j, ref), count in cells.items():
                a.confusion.add_metric([r, head, arm, str(j).lower(), str(ref).lower()], count)
            a.agreements.add_metric([r, head, arm], cells[(True, True)] + cells[(False, False)])
    for (j_state, ref_state), count in or_cells(ratio_sums(layout, c, "over_refusal")).items():
        a.or_cells.add_metric([r, j_state, ref_state], count)
    mf = audit.measures["over_refusal"]
    for term, i in (
        ("judge_numerator", mf.v_fa),
        ("judge_denominator", mf.v_fb),
        ("rectifier_numerator", mf.v_ra),
        ("rectifier_denominator", mf.v_rb),
    ):
        a.or_vproc.add_metric([r, term], float(c[i]))
    for name, qf in audit.measures.items():
        if name.startswith("delta:"):
            head = name.removeprefix("delta:")
            a.q_rect.add_metric([r, head, "positive"], float(c[qf.r_pos]))
            a.q_rect.add_metric([r, head, "negative"], float(c[qf.r_neg]))


def _window(
    a: AuditFamilies, layout: Layout, r: str, window: str, t: FloatArray, s: WindowSummary
) -> None:
    a.win_audited.add_metric([r, window], s.audited)
    a.available.add_metric([r, window], 1.0 if s.corrected else 0.0)
    if s.audited > 0:
        for head in BINARY_HEADS:
            for arm in ARMS:
                cells = confusion(layout, t, f"{head}:{arm}")
                agree = cells[(True, True)] + cells[(False, False)]
                put(a.agreement, [r, head, arm, window], agree / s.audited)
    for name, fig in s.corrected.items():
        if name == "over_refusal":
            put_stats(a.or_ratio, [r, window], fig.point, fig.ci, fig.cs)
        elif name == "safety_benefit":
            put_stats(a.sb_ratio, [r, window], fig.point, fig.ci, fig.cs)
        elif name.startswith("delta:"):
            put_stats(a.tax, [r, name.removeprefix("delta:"), window], fig.point, fig.ci, fig.cs)
        else:
            head, arm = name.split(":", 1)
            fam = a.refusal if head == "refusal" else a.unsafe
            put_stats(fam, [r, arm, window], fig.point, fig.ci, fig.cs)
