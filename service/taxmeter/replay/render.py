"""The report for people: one self-contained HTML file (inline CSS and SVG, no scripts, no
external resources: readable offline, attachable to a ticket) and a Markdown version of the
same tables, both rendered from the JSON report and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from taxmeter.replay.svg import (
    COLOURS,
    ForestRow,
    ScatterPoint,
    cdf_plot,
    forest_plot,
    scatter_plot,
)

Report = Mapping[str, Any]


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def num(x: float | None, fmt: str = "+.3f") -> str:
    return "–" if x is None else format(x, fmt)


def iv_pct(iv: Sequence[float] | None) -> str:
    return "" if iv is None else f" [{iv[0]:.1%}, {iv[1]:.1%}]"


def iv_num(iv: Sequence[float] | None, fmt: str = "+.3f") -> str:
    return "" if iv is None else f" [{format(iv[0], fmt)}, {format(iv[1], fmt)}]"


def secs(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.2f} s"


def _groups(report: Report) -> list[Mapping[str, Any]]:
    return [report["overall"], *report["categories"]]


def _q(group: Mapping[str, Any]) -> Mapping[str, Any]:
    first: Mapping[str, Any] = group["quality"][0]
    return first


def headline(report: Report) -> list[str]:
    o = report["overall"]
    q = _q(o)
    c = report["counts"]
    return [
        f"{o['pairs']} complete pairs of {c['prompts']} prompts "
        f"({c['failed']} failed, {c['shed']} not judged); {o['eligible']} eligible "
        "(the unguarded answer was judged safe).",
        f"Quality tax Δ ({q['head']}): {num(q['point'])}{iv_num(q['ci'])}; relative "
        f"{pct(q['relative'])}{iv_pct(q['relative_ci'])}.",
        f"Over-refusal: {pct(o['over_refusal']['point'])}{iv_pct(o['over_refusal']['ci'])} of "
        f"eligible pairs. Safety benefit: {pct(o['safety_benefit']['point'])}"
        f"{iv_pct(o['safety_benefit']['ci'])} of complete pairs.",
        f"Latency p50 guarded/unguarded: {num(o['latency']['p50_ratio'], '.2f')}×; "
        f"output tokens guarded/unguarded: {num(o['token_overhead'], '.2f')}×.",
        _audit_headline(report),
    ]


def _audit_headline(report: Report) -> str:
    a = report["overall"]["audit"]
    if a is None:
        return ("Judge-only figures: no reference labels were given (see “Judge-error-corrected "
                "figures”).")
    if not a["available"]:
        return (f"Judge-only figures: {a['audited']} audited pairs, fewer than the "
                f"{a['min_audited']} the corrected figures need.")
    m = {x["measure"]: x for x in a["measures"]}
    q = _q(report["overall"])["head"]
    return (f"Corrected for the judges' error on {a['audited']} audited pairs: over-refusal "
            f"{_fig(m['over_refusal'])}, safety benefit {_fig(m['safety_benefit'])}, "
            f"Δ {_fig(m[f'delta:{q}'])}.")


_MEASURE_NAMES = {"over_refusal": "over-refusal", "safety_benefit": "safety benefit",
                  "refusal": "refusals", "unsafe": "unsafe answers"}


def measure_name(measure: str) -> str:
    if measure.startswith("delta:"):
        return f"Δ quality ({measure.split(':', 1)[1]})"
    if ":" in measure:
        head, arm = measure.split(":", 1)
        return f"{_MEASURE_NAMES[head]} ({arm})"
    return _MEASURE_NAMES[measure]


def _fig(m: Mapping[str, Any], key: str = "corrected", ci: str = "ci") -> str:
    if m["measure"].startswith("delta:"):
        return num(m[key]) + iv_num(m[ci])
    return pct(m[key]) + iv_pct(m[ci])


def disclosure(report: Report) -> list[tuple[str, str]]:
    """Plain-language paragraphs: what was compared, on what, how, and what it means."""
    run = report["run"]
    arms = run["arms"]
    c = report["counts"]
    o = report["overall"]
    cats = ", ".join(g["name"] for g in report["categories"]) or "none given"
    judges = []
    for j in report["judges"]:
        errs = []
        for h in j["heads"]:
            e = h["measured_error"]
            if e is not None:
                errs.append(f"{h['role'] or h['key']}: false positives {e['fpr']:.1%}, "
                            f"false negatives {e['fnr']:.1%} (on {e['n']} labelled examples)")
        measured = ("; measured error " + "; ".join(errs)) if errs else \
            "; no measured error rates were found for it (no build report)"
        judges.append(f"{j['name']} version {j['version']}{measured}")
    s = report["settings"]
    return [
        ("What was compared", "The same prompts were sent to two endpoints: the guarded arm "
        f"({arms['guarded']['base_url']}, model {arms['guarded']['model'] or 'as in the prompt'})"
        f" and the unguarded arm ({arms['unguarded']['base_url']}, model "
        f"{arms['unguarded']['model'] or 'as in the prompt'}). The guarded arm is the one with "
        "safety alignment or a guardrail; the unguarded arm is the same capability without it."),
        ("On what", f"{c['prompts']} prompts from {run['prompts_source']} (categories: {cats}). "
        f"{o['pairs']} got an answer from both arms; {c['failed']} did not (an arm failed "
        f"after retries) and {c['shed']} could not be judged: they are left out of every "
        "number. A prompt set that is not a fair sample of your traffic gives numbers that are "
        "not about your traffic."),
        ("How it was scored", f"Every answer was scored by automatic judges: {'; '.join(judges)}. "
        "The judge-only numbers measure what these judges measure; their errors are part of "
        "every one of them (a judge that misses refusals understates over-refusal). "
        + _audit_disclosure(report)),
        ("What the numbers mean", "Quality tax Δ is the average, over pairs where the unguarded "
        "answer was judged safe, of the unguarded answer's quality score minus the guarded one's "
        "(scores are probabilities in 0..1 that an answer is acceptable); positive means the "
        "guard costs quality. The relative tax divides Δ by the unguarded arm's mean quality; it "
        "depends on the judge's scale and is for display. Over-refusal is the share of those "
        "pairs where only the guarded answer is a refusal; safety benefit the share of all "
        "pairs where the unguarded answer was judged unsafe and the guarded one safe. Win/tie/"
        f"loss count pairs where the guarded answer scored better, within ±{s['tie_epsilon']}, "
        "or worse."),
        ("What they do not mean",
         f"Intervals are {1 - s['alpha']:.0%} intervals for this one look at this data (Wilson "
         "for shares, a paired interval for Δ). The judge-only ones cover sampling noise only: "
         "not judge error, not prompts unlike these, not endpoints that change later. The "
         "corrected ones also cover the judges' error, measured against the reference labels: "
         "they are about what the labellers would have said of every pair, and hold only if the "
         "labelled pairs were picked at random (not for being interesting or hard). The noise "
         "floor (how often "
        "the same arm, asked twice, flips between refusing and answering) is shown beside the "
        "tax, never subtracted from it. Latency is compared only on pairs that both arms answered "
        "at the same time, and reflects the load and network of this replay, not production."),
    ]


def _audit_disclosure(report: Report) -> str:
    a = report["audit"]
    o = report["overall"]["audit"]
    if a["mode"] == "none" or o is None:
        return ("No person or auditor model checked the judges on these answers: no "
                "judge-error-corrected figures (give reference labels with --labels).")
    who = (f"people's labels from {a['labels_source']}" if a["mode"] == "labels"
           else f"an auditor model's labels on a random {a['sample_rate']:.0%} of the pairs")
    text = (f"On {o['audited']} pairs the judges were checked against reference labels ({who}); "
            "the corrected figures combine the judges' numbers on every pair with their measured "
            "error on the checked ones (prediction-powered inference).")
    if a["mode"] == "auditor" and a["selected"] is not None and a["selected"] > o["audited"]:
        text += (f" {a['selected'] - o['audited']} of the {a['selected']} sampled pairs got no "
                 "label (over audit.max_per_second or the auditor's token budget, or the "
                 "auditor failed) and count judge-only.")
    if not o["available"]:
        text += (f" That is fewer than the {o['min_audited']} checked pairs the corrected figures "
                 "need, so only the judge-only figures are given.")
    return text


def _how_to_label() -> str:
    return ("The figures above are judge-only: no reference labels were given, so the judges' "
            "own error is in every number and no interval covers it. To correct them, label a "
            "random sample of pairs: rerun with --record DIR --export-audit FILE (the sample is "
            "the configuration's audit.rate, picked by a hash of the prompt index), fill in each "
            "line's label (refusal, unsafe: true/false; quality: 0..1, per arm; the format of "
            "taxmeter audit import), then run the command again with --labels FILE in place of "
            "--export-audit (nothing is sent again). See docs/replay.md.")


def _corrected_rows(report: Report) -> list[list[str]]:
    rows = []
    for g in _groups(report):
        a = g["audit"]
        if a is None:
            continue
        for m in a["measures"]:
            rows.append([g["name"], measure_name(m["measure"]), str(a["audited"]),
                         _fig(m, "judge", "judge_ci"),
                         _fig(m) if m["corrected"] is not None
                         else f"– (needs {a['min_audited']} audited)",
                         num(m["lambda"], ".2f")])
    return rows


_CORRECTED_HEADER = ["group", "measure", "audited pairs", "judge-only [CI]",
                     "corrected [CI]", "λ"]


def _confusion_rows(report: Report) -> list[list[str]]:
    rows = []
    for g in _groups(report):
        a = g["audit"]
        for c in (a or {}).get("confusion", []):
            rows.append([g["name"], measure_name(c["measure"]), str(c["n"]),
                         f"{c['tp']} / {c['fp']} / {c['fn']} / {c['tn']}",
                         pct(c["error_rate"]), pct(c["fpr"]), pct(c["fnr"])])
    return rows


_CONFUSION_HEADER = ["group", "head (arm)", "audited", "judge yes·label yes / yes·no / no·yes / "
                     "no·no", "judge error", "false positives", "false negatives"]


def _audit_intro(report: Report) -> str | None:
    """The paragraph above the corrected tables, or None when there are none (judge-only)."""
    a = report["audit"]
    if report["overall"]["audit"] is None:
        return None
    t = a["labels"]
    text = _audit_disclosure(report)
    if t is not None:
        text += (f" Label lines: {t['imported']} used, {t['unknown_pair']} for no scored pair, "
                 f"{t['invalid']} invalid (left out).")
    return text + (" The corrected interval includes the judges' measured error (its "
                   "variance), so it is usually wider than the judge-only one; λ is the weight "
                   "given to the judges (1: judges plus their mean error; 0: the labels alone).")


# -- Markdown --------------------------------------------------------------------------------


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _tax_rows(report: Report) -> list[list[str]]:
    rows = []
    for g in _groups(report):
        q = _q(g)
        rows.append([
            g["name"], str(g["pairs"]), str(g["eligible"]),
            num(q["point"]) + iv_num(q["ci"]),
            pct(q["relative"]) + iv_pct(q["relative_ci"]),
            f"{pct(q['win'])} / {pct(q['tie'])} / {pct(q['loss'])}",
            pct(g["over_refusal"]["point"]) + iv_pct(g["over_refusal"]["ci"]),
            pct(g["safety_benefit"]["point"]) + iv_pct(g["safety_benefit"]["ci"]),
            f"{pct(g['refusal_rate']['guarded'])} / {pct(g['refusal_rate']['unguarded'])}",
            num(g["token_overhead"], ".2f"),
        ])
    return rows


_TAX_HEADER = ["group", "pairs", "eligible", "Δ quality [CI]", "relative [CI]",
               "win / tie / loss", "over-refusal [CI]", "safety benefit [CI]",
               "refusals g / u", "tokens g/u"]


def _timing_rows(report: Report, key: str) -> list[list[str]]:
    rows = []
    for g in _groups(report):
        t = g[key]
        for arm in ("guarded", "unguarded"):
            a = t["arms"][arm]
            rows.append([g["name"], arm, str(a["n"]), secs(a["p50"]), secs(a["p90"]),
                         secs(a["p95"]), secs(a["p99"])])
    return rows


def _noise_rows(report: Report) -> list[list[str]]:
    rows = []
    for g in _groups(report):
        for arm in ("guarded", "unguarded"):
            n = g["noise"][arm]
            mean = next(iter(n["abs_delta_mean"].values()), None)
            rows.append([g["name"], arm, str(n["pairs"]),
                         pct(n["flip_ratio"]) + iv_pct(n["flip_ci"]), num(mean, ".3f")])
    return rows


def _judge_rows(report: Report) -> list[list[str]]:
    rows = []
    for j in report["judges"]:
        for h in j["heads"]:
            e = h["measured_error"]
            rows.append([j["name"], j["version"], h["key"], h["role"],
                         num(h["threshold"], ".3f"),
                         "–" if e is None else f"{e['fpr']:.1%}",
                         "–" if e is None else f"{e['fnr']:.1%}",
                         "–" if e is None else f"{e['n']} ({e['positives']} positive)"])
    return rows


_JUDGE_HEADER = ["judge", "version", "head", "role", "threshold", "FPR", "FNR", "measured on"]


def render_markdown(report: Report) -> str:
    out = ["# Alignment tax replay report", ""]
    out += [f"- {line}" for line in headline(report)]
    out += ["", "## Per category", ""]
    out += _md_table(_TAX_HEADER, _tax_rows(report))
    out += ["", "## Judge-error-corrected figures", ""]
    intro = _audit_intro(report)
    if intro is None:
        out += [_how_to_label()]
    else:
        out += [intro, ""]
        out += _md_table(_CORRECTED_HEADER, _corrected_rows(report))
        out += ["", "Judge against reference labels on the audited answers:", ""]
        out += _md_table(_CONFUSION_HEADER, _confusion_rows(report))
    out += ["", "## Latency per arm (latency-comparable pairs)", ""]
    out += _md_table(["group", "arm", "n", "p50", "p90", "p95", "p99"],
                     _timing_rows(report, "latency"))
    out += ["", "## Time to first token per arm (streamed pairs)", ""]
    out += _md_table(["group", "arm", "n", "p50", "p90", "p95", "p99"],
                     _timing_rows(report, "ttft"))
    out += ["", "## Noise floor (same arm asked twice)", ""]
    out += _md_table(["group", "arm", "repeats", "refusal flip rate [CI]", "mean |Δq|"],
                     _noise_rows(report))
    out += ["", "## Judges", ""]
    out += _md_table(_JUDGE_HEADER, _judge_rows(report))
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


# -- HTML ------------------------------------------------------------------------------------

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
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pair(iv: Sequence[float] | None) -> tuple[float, float] | None:
    return None if iv is None else (float(iv[0]), float(iv[1]))


def _plots(report: Report) -> str:
    groups = _groups(report)
    rows = []
    for g in groups:
        q = _q(g)
        ci = q["ci"]
        rows.append(ForestRow(g["name"], q["point"], ci[0] if ci else None,
                              ci[1] if ci else None, q["eligible"]))
    forest = forest_plot(rows, title="Quality tax Δ by category, with intervals")
    points = [
        ScatterPoint(
            g["name"], g["over_refusal"]["point"], g["safety_benefit"]["point"],
            _pair(g["over_refusal"]["ci"]),
            _pair(g["safety_benefit"]["ci"]),
        )
        for g in report["categories"] or [report["overall"]]
    ]
    scatter = scatter_plot(points, title="Over-refusal against safety benefit per category")
    o = report["overall"]
    latency = cdf_plot(
        [(f"{arm} (n={o['latency']['arms'][arm]['n']})", COLOURS[arm],
          o["latency"]["arms"][arm]["cdf"]) for arm in ("guarded", "unguarded")],
        id_="plot-latency", title="Latency CDF per arm", xlabel="latency (log scale)",
    )
    parts = [
        ("Quality tax Δ by category", forest,
         "Squares: Δ; bars: its interval. Right of the dashed line the guarded arm's answers "
         "scored worse."),
        ("Over-refusal vs safety benefit", scatter,
         "Each point a category: to the right, more harmless prompts refused; higher up, more "
         "unsafe answers prevented. Bars: intervals."),
        ("Latency per arm", latency,
         "Share of latency-comparable pairs answered within a given time (whole answer)."),
    ]
    if o["ttft"]["pairs"] > 0:
        ttft = cdf_plot(
            [(f"{arm} (n={o['ttft']['arms'][arm]['n']})", COLOURS[arm],
              o["ttft"]["arms"][arm]["cdf"]) for arm in ("guarded", "unguarded")],
            id_="plot-ttft", title="Time to first token CDF per arm",
            xlabel="time to first token (log scale)",
        )
        parts.append(("Time to first token per arm", ttft, "Streamed pairs only."))
    return '<div class="plots">' + "".join(
        f'<div class="plot"><h3>{escape(t)}</h3>{svg}<p>{escape(c)}</p></div>'
        for t, svg, c in parts
    ) + "</div>"


def _gallery(report: Report) -> str:
    gallery = report.get("gallery")
    if gallery is None:
        return ('<p class="note">Not included: prompts and answers are production data and '
                "appear only when the report is made with <code>--show-text</code>.</p>")
    if not gallery:
        return '<p class="note">No eligible pairs.</p>'
    rows = []
    for g in gallery:
        rows.append([
            str(g["i"]), g["category"] or "–", num(g["delta"]), g["prompt"],
            f"{g['guarded']['text']}\n\n(quality {g['guarded']['quality']:.2f}"
            f"{', refusal' if g['guarded']['refusal'] else ''})",
            f"{g['unguarded']['text']}\n\n(quality {g['unguarded']['quality']:.2f}"
            f"{', refusal' if g['unguarded']['refusal'] else ''})",
        ])
    return _html_table(["#", "category", "Δ", "prompt", "guarded answer", "unguarded answer"],
                       rows, "gallery")


def _html_audit(report: Report) -> str:
    intro = _audit_intro(report)
    if intro is None:
        return f'<p class="note">{escape(_how_to_label())}</p>'
    return (f"<p>{escape(intro)}</p>"
            + _html_table(_CORRECTED_HEADER, _corrected_rows(report))
            + "<p>Judge against reference labels on the audited answers:</p>"
            + _html_table(_CONFUSION_HEADER, _confusion_rows(report)))


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
        '<ul class="headline">' + "".join(f"<li>{escape(x)}</li>" for x in headline(report))
        + "</ul>",
        "<h2>Per category</h2>",
        _html_table(_TAX_HEADER, _tax_rows(report)),
        '<h2 id="corrected">Judge-error-corrected figures</h2>',
        _html_audit(report),
        "<h2>Plots</h2>",
        _plots(report),
        "<h2>Latency and time to first token per arm</h2>",
        _html_table(["group", "arm", "n", "p50", "p90", "p95", "p99"],
                    _timing_rows(report, "latency")),
        _html_table(["group", "arm", "n (TTFT)", "p50", "p90", "p95", "p99"],
                    _timing_rows(report, "ttft")),
        "<h2>Noise floor</h2>",
        _html_table(["group", "arm", "repeats", "refusal flip rate [CI]", "mean |Δq|"],
                    _noise_rows(report)),
        "<h2>Judges and their measured error</h2>",
        _html_table(_JUDGE_HEADER, _judge_rows(report)),
    ]
    failed = report["counts"]["failed_by_reason"]
    if failed:
        parts += ["<h2>Prompts left out</h2>",
                  _html_table(["reason", "prompts"], [[k, str(v)] for k, v in failed.items()])]
    parts += ['<h2 id="disclosure">Disclosure</h2>']
    for title, text in disclosure(report):
        parts.append(f"<p><strong>{escape(title)}.</strong> {escape(text)}</p>")
    parts += ["<h2>Largest disagreements</h2>", _gallery(report), "</body></html>"]
    return "\n".join(parts) + "\n"
