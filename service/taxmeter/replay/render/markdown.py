"""The Markdown report: the HTML report's tables and text, without the plots."""

from __future__ import annotations

from collections.abc import Sequence

from taxmeter.replay.render.cells import (
    CONFUSION_HEADER,
    CORRECTED_HEADER,
    JUDGE_HEADER,
    TAX_HEADER,
    Report,
    confusion_rows,
    corrected_rows,
    judge_rows,
    noise_rows,
    tax_rows,
    timing_rows,
)
from taxmeter.replay.render.prose import audit_intro, disclosure, headline, how_to_label


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def render_markdown(report: Report) -> str:
    out = ["# Alignment tax replay report", ""]
    out += [f"- {line}" for line in headline(report)]
    out += ["", "## Per category", ""]
    out += _md_table(TAX_HEADER, tax_rows(report))
    out += ["", "## Judge-error-corrected figures", ""]
    intro = audit_intro(report)
    if intro is None:
        out += [how_to_label()]
    else:
        out += [intro, ""]
        out += _md_table(CORRECTED_HEADER, corrected_rows(report))
        out += ["", "Judge against reference labels on the audited answers:", ""]
        out += _md_table(CONFUSION_HEADER, confusion_rows(report))
    out += ["", "## Latency per arm (latency-comparable pairs)", ""]
    out += _md_table(
        ["group", "arm", "n", "p50", "p90", "p95", "p99"], timing_rows(report, "latency")
    )
    out += ["", "## Time to first token per arm (streamed pairs)", ""]
    out += _md_table(["group", "arm", "n", "p50", "p90", "p95", "p99"], timing_rows(report, "ttft"))
    out += ["", "## Noise floor (same arm asked twice)", ""]
    out += _md_table(
        ["group", "arm", "repeats", "refusal flip rate [CI]", "mean |Δq|"], noise_rows(report)
    )
    out += ["", "## Judges", ""]
    out += _md_table(JUDGE_HEADER, judge_rows(report))
    failed = report["counts"]["failed_by_reason"]
    if failed:
        out += ["", "## Prompts left out", ""]
        out += _md_table(["reason", "prompts"], [[k, str(v)] for k, v in failed.items()])
    out += ["", "## Disclosure", ""]
    for title, text in disclosure(report):
        out += [f"**{title}.** {text}", ""]
    gallery = report.get("gallery")
    out += ["## Largest disagreements", ""]
    if gallery is None:
        out += ["Not included (answers are shown only with `--show-text`).", ""]
    else:
        out += [f"{len(gallery)} pairs with the largest |Δ| (text in the HTML report).", ""]
    out.append(f"_{report['generator']}, {report['run']['finished']}_")
    return "\n".join(out) + "\n"
