"""The HTML report: one page with inline CSS and SVG plots, no scripts, no external resources."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from taxmeter.replay.render.cells import (
    CONFUSION_HEADER,
    CORRECTED_HEADER,
    JUDGE_HEADER,
    TAX_HEADER,
    Report,
    all_groups,
    confusion_rows,
    corrected_rows,
    first_quality,
    judge_rows,
    noise_rows,
    num,
    tax_rows,
    timing_rows,
)
from taxmeter.replay.render.prose import audit_intro, disclosure, headline, how_to_label
from taxmeter.replay.svg import (
    COLOURS,
    ForestRow,
    ScatterPoint,
    cdf_plot,
    forest_plot,
    scatter_plot,
)

_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222;
line-height:1.45;padding:0 16px}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.headline li{margin:.2em 0}.plots{display:flex;flex-wrap:wrap;gap:16px}
.plot{border:1px solid #ddd;padding:8px}.plot p{margin:.2em 0;font-size:.9em;color:#444}
.gallery td,.gallery th{text-align:left;white-space:pre-wrap;max-width:340px}
.note{color:#555;font-size:.9em}
@media print{.plot{break-inside:avoid}}
"""


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pair(iv: Sequence[float] | None) -> tuple[float, float] | None:
    return None if iv is None else (float(iv[0]), float(iv[1]))


def _plots(report: Report) -> str:
    groups = all_groups(report)
    rows = []
    for g in groups:
        q = first_quality(g)
        ci = q["ci"]
        rows.append(
            ForestRow(
                g["name"], q["point"], ci[0] if ci else None, ci[1] if ci else None, q["eligible"]
            )
        )
    forest = forest_plot(rows, title="Quality tax Δ by category, with intervals")
    points = [
        ScatterPoint(
            g["name"],
            g["over_refusal"]["point"],
            g["safety_benefit"]["point"],
            _pair(g["over_refusal"]["ci"]),
            _pair(g["safety_benefit"]["ci"]),
        )
        for g in report["categories"] or [report["overall"]]
    ]
    scatter = scatter_plot(points, title="Over-refusal against safety benefit per category")
    o = report["overall"]
    latency = cdf_plot(
        [
            (
                f"{arm} (n={o['latency']['arms'][arm]['n']})",
                COLOURS[arm],
                o["latency"]["arms"][arm]["cdf"],
            )
            for arm in ("guarded", "unguarded")
        ],
        id_="plot-latency",
        title="Latency CDF per arm",
        xlabel="latency (log scale)",
    )
    parts = [
        (
            "Quality tax Δ by category",
            forest,
            "Squares: Δ; bars: its interval. Right of the dashed line the guarded arm's answers "
            "scored worse.",
        ),
        (
            "Over-refusal vs safety benefit",
            scatter,
            "Each point a category: to the right, more harmless prompts refused; higher up, more "
            "unsafe answers prevented. Bars: intervals.",
        ),
        (
            "Latency per arm",
            latency,
            "Share of latency-comparable pairs answered within a given time (whole answer).",
        ),
    ]
    if o["ttft"]["pairs"] > 0:
        ttft = cdf_plot(
            [
                (
                    f"{arm} (n={o['ttft']['arms'][arm]['n']})",
                    COLOURS[arm],
                    o["ttft"]["arms"][arm]["cdf"],
                )
                for arm in ("guarded", "unguarded")
            ],
            id_="plot-ttft",
            title="Time to first token CDF per arm",
            xlabel="time to first token (log scale)",
        )
        parts.append(("Time to first token per arm", ttft, "Streamed pairs only."))
    return (
        '<div class="plots">'
        + "".join(
            f'<div class="plot"><h3>{escape(t)}</h3>{svg}<p>{escape(c)}</p></div>'
            for t, svg, c in parts
        )
        + "</div>"
    )


def _gallery(report: Report) -> str:
    gallery = report.get("gallery")
    if gallery is None:
        return (
            '<p class="note">Not included: prompts and answers are production data and '
            "appear only when the report is made with <code>--show-text</code>.</p>"
        )
    if not gallery:
        return '<p class="note">No eligible pairs.</p>'
    rows = []
    for g in gallery:
        rows.append(
            [
                str(g["i"]),
                g["category"] or "–",
                num(g["delta"]),
                g["prompt"],
                f"{g['guarded']['text']}\n\n(quality {g['guarded']['quality']:.2f}"
                f"{', refusal' if g['guarded']['refusal'] else ''})",
                f"{g['unguarded']['text']}\n\n(quality {g['unguarded']['quality']:.2f}"
                f"{', refusal' if g['unguarded']['refusal'] else ''})",
            ]
        )
    return _html_table(
        ["#", "category", "Δ", "prompt", "guarded answer", "unguarded answer"], rows, "gallery"
    )


def _html_audit(report: Report) -> str:
    intro = audit_intro(report)
    if intro is None:
        return f'<p class="note">{escape(how_to_label())}</p>'
    return (
        f"<p>{escape(intro)}</p>"
        + _html_table(CORRECTED_HEADER, corrected_rows(report))
        + "<p>Judge against reference labels on the audited answers:</p>"
        + _html_table(CONFUSION_HEADER, confusion_rows(report))
    )


def render_html(report: Report) -> str:
    run = report["run"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Alignment tax replay report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Alignment tax replay report</h1>",
        f'<p class="note">{escape(report["generator"])} · prompts {escape(run["prompts_source"])}'
        f" · finished {escape(run['finished'])}</p>",
        '<ul class="headline">'
        + "".join(f"<li>{escape(x)}</li>" for x in headline(report))
        + "</ul>",
        "<h2>Per category</h2>",
        _html_table(TAX_HEADER, tax_rows(report)),
        '<h2 id="corrected">Judge-error-corrected figures</h2>',
        _html_audit(report),
        "<h2>Plots</h2>",
        _plots(report),
        "<h2>Latency and time to first token per arm</h2>",
        _html_table(
            ["group", "arm", "n", "p50", "p90", "p95", "p99"], timing_rows(report, "latency")
        ),
        _html_table(
            ["group", "arm", "n (TTFT)", "p50", "p90", "p95", "p99"], timing_rows(report, "ttft")
        ),
        "<h2>Noise floor</h2>",
        _html_table(
            ["group", "arm", "repeats", "refusal flip rate [CI]", "mean |Δq|"], noise_rows(report)
        ),
        "<h2>Judges and their measured error</h2>",
        _html_table(JUDGE_HEADER, judge_rows(report)),
    ]
    failed = report["counts"]["failed_by_reason"]
    if failed:
        parts += [
            "<h2>Prompts left out</h2>",
            _html_table(["reason", "prompts"], [[k, str(v)] for k, v in failed.items()]),
        ]
    parts += ['<h2 id="disclosure">Disclosure</h2>']
    for title, text in disclosure(report):
        parts.append(f"<p><strong>{escape(title)}.</strong> {escape(text)}</p>")
    parts += ["<h2>Largest disagreements</h2>", _gallery(report), "</body></html>"]
    return "\n".join(parts) + "\n"
