"""The report's figures as text: numbers, shares and intervals formatted one way for both
renderers, and the rows of every table (the Markdown and the HTML report show the same cells).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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


def all_groups(report: Report) -> list[Mapping[str, Any]]:
    return [report["overall"], *report["categories"]]


def first_quality(group: Mapping[str, Any]) -> Mapping[str, Any]:
    first: Mapping[str, Any] = group["quality"][0]
    return first


_MEASURE_NAMES = {
    "over_refusal": "over-refusal",
    "safety_benefit": "safety benefit",
    "refusal": "refusals",
    "unsafe": "unsafe answers",
}


def measure_name(measure: str) -> str:
    if measure.startswith("delta:"):
        return f"Δ quality ({measure.split(':', 1)[1]})"
    if ":" in measure:
        head, arm = measure.split(":", 1)
        return f"{_MEASURE_NAMES[head]} ({arm})"
    return _MEASURE_NAMES[measure]


def figure(m: Mapping[str, Any], key: str = "corrected", ci: str = "ci") -> str:
    if m["measure"].startswith("delta:"):
        return num(m[key]) + iv_num(m[ci])
    return pct(m[key]) + iv_pct(m[ci])


def corrected_rows(report: Report) -> list[list[str]]:
    rows = []
    for g in all_groups(report):
        a = g["audit"]
        if a is None:
            continue
        for m in a["measures"]:
            rows.append(
                [
                    g["name"],
                    measure_name(m["measure"]),
                    str(a["audited"]),
                    figure(m, "judge", "judge_ci"),
                    figure(m)
                    if m["corrected"] is not None
                    else f"– (needs {a['min_audited']} audited)",
                    num(m["lambda"], ".2f"),
                ]
            )
    return rows


CORRECTED_HEADER = ["group", "measure", "audited pairs", "judge-only [CI]", "corrected [CI]", "λ"]


def confusion_rows(report: Report) -> list[list[str]]:
    rows = []
    for g in all_groups(report):
        a = g["audit"]
        for c in (a or {}).get("confusion", []):
            rows.append(
                [
                    g["name"],
                    measure_name(c["measure"]),
                    str(c["n"]),
                    f"{c['tp']} / {c['fp']} / {c['fn']} / {c['tn']}",
                    pct(c["error_rate"]),
                    pct(c["fpr"]),
                    pct(c["fnr"]),
                ]
            )
    return rows


CONFUSION_HEADER = [
    "group",
    "head (arm)",
    "audited",
    "judge yes·label yes / yes·no / no·yes / no·no",
    "judge error",
    "false positives",
    "false negatives",
]


def tax_rows(report: Report) -> list[list[str]]:
    rows = []
    for g in all_groups(report):
        q = first_quality(g)
        rows.append(
            [
                g["name"],
                str(g["pairs"]),
                str(g["eligible"]),
                num(q["point"]) + iv_num(q["ci"]),
                pct(q["relative"]) + iv_pct(q["relative_ci"]),
                f"{pct(q['win'])} / {pct(q['tie'])} / {pct(q['loss'])}",
                pct(g["over_refusal"]["point"]) + iv_pct(g["over_refusal"]["ci"]),
                pct(g["safety_benefit"]["point"]) + iv_pct(g["safety_benefit"]["ci"]),
                f"{pct(g['refusal_rate']['guarded'])} / {pct(g['refusal_rate']['unguarded'])}",
                num(g["token_overhead"], ".2f"),
            ]
        )
    return rows


TAX_HEADER = [
    "group",
    "pairs",
    "eligible",
    "Δ quality [CI]",
    "relative [CI]",
    "win / tie / loss",
    "over-refusal [CI]",
    "safety benefit [CI]",
    "refusals g / u",
    "tokens g/u",
]


def timing_rows(report: Report, key: str) -> list[list[str]]:
    rows = []
    for g in all_groups(report):
        t = g[key]
        for arm in ("guarded", "unguarded"):
            a = t["arms"][arm]
            rows.append(
                [
                    g["name"],
                    arm,
                    str(a["n"]),
                    secs(a["p50"]),
                    secs(a["p90"]),
                    secs(a["p95"]),
                    secs(a["p99"]),
                ]
            )
    return rows


def noise_rows(report: Report) -> list[list[str]]:
    rows = []
    for g in all_groups(report):
        for arm in ("guarded", "unguarded"):
            n = g["noise"][arm]
            mean = next(iter(n["abs_delta_mean"].values()), None)
            rows.append(
                [
                    g["name"],
                    arm,
                    str(n["pairs"]),
                    pct(n["flip_ratio"]) + iv_pct(n["flip_ci"]),
                    num(mean, ".3f"),
                ]
            )
    return rows


def judge_rows(report: Report) -> list[list[str]]:
    rows = []
    for j in report["judges"]:
        for h in j["heads"]:
            e = h["measured_error"]
            rows.append(
                [
                    j["name"],
                    j["version"],
                    h["key"],
                    h["role"],
                    num(h["threshold"], ".3f"),
                    "–" if e is None else f"{e['fpr']:.1%}",
                    "–" if e is None else f"{e['fnr']:.1%}",
                    "–" if e is None else f"{e['n']} ({e['positives']} positive)",
                ]
            )
    return rows


JUDGE_HEADER = ["judge", "version", "head", "role", "threshold", "FPR", "FNR", "measured on"]
