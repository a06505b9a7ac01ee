"""The replay report as one JSON document (validated against ``report.schema.json``), built
from a ``TaxAggregator`` that the scored pairs went through.

Per group (``overall`` and each category) the numbers come from the aggregator's own
sufficient-statistics vectors through ``tax.summary.summarize_window``, the function the
sidecar's collector exports, applied to the all-time sums: Δ per quality head with its
interval and the paired win/tie/loss, the relative tax (Δ / mean quality of the unguarded arm,
its interval Δ's interval over that mean: display only), over-refusal and safety benefit with
Wilson intervals, latency and TTFT quantiles and CDFs per arm from the aggregator's log-bucket
histograms (latency-comparable pairs only), token overhead and the noise floor.

With reference labels (``--labels``, or the LLM auditor of ``audit``), each group adds
``audit``: every measure's judge-only figure next to its judge-error-corrected one (the
prediction-powered estimate and interval of ``tax/ppi.py``, through the same
``summarize_window`` and ``tax/audit_stats.corrected_window`` the sidecar exports), the audited
pair count and the judge's confusion counts against the reference per head and arm.

Deterministic: the same log gives the same document except ``run`` (times, paths, retries)
and the latency/TTFT sections (measured).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from taxmeter import __version__
from taxmeter.tax.aggregator import OTHER, TaxAggregator
from taxmeter.tax.audit_stats import BINARY_HEADS, confusion
from taxmeter.tax.estimators import Interval
from taxmeter.tax.layout import ARMS, Layout
from taxmeter.tax.sketch import FloatArray
from taxmeter.tax.summary import ProportionSummary, WindowSummary, summarize_window

SCHEMA_VERSION = 2
DETERMINISTIC_EXCLUDE = ("run",)
MEASURED_GROUP_KEYS = ("latency", "ttft")
QUANTILES = (0.5, 0.9, 0.95, 0.99)


def _r(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(float(x), digits)


def _iv(iv: Interval | None) -> list[float] | None:
    return None if iv is None else [round(iv.low, 6), round(iv.high, 6)]


def _prop(p: ProportionSummary) -> dict[str, Any]:
    return {"count": p.count, "pairs": p.pairs, "point": _r(p.point), "ci": _iv(p.ci)}


def _distribution(layout: Layout, g: FloatArray, u: FloatArray, pairs: int) -> dict[str, Any]:
    lat = layout.lat
    arms: dict[str, Any] = {}
    for arm, counts in (("guarded", g), ("unguarded", u)):
        total = float(counts.sum())
        q = {f"p{round(p * 100)}": _r(lat.quantile(counts, p)) for p in QUANTILES}
        cdf: list[list[float]] = []
        if total > 0:
            cum = np.cumsum(counts) / total
            first = int(np.argmax(counts > 0))
            last = int(np.argmax(cum >= 1.0 - 1e-12))
            for i in range(max(first - 1, 0), last + 1):
                x = lat.lo if i == 0 else float(lat.edges[min(i, lat.buckets)])
                cdf.append([round(x, 6), round(float(cum[i]), 6)])
        arms[arm] = {"n": int(total), **q, "cdf": cdf}
    return {"pairs": pairs, "arms": arms}


_OLD_NAMES = {"refusals": "refusals", "unsafe": "unsafe", "tokens": "tok"}


def arm_sum(layout: Layout, vec: FloatArray, name: str, arm: str) -> float:
    """Σ of a per-arm field (``refusals``, ``unsafe``, ``tokens``) in a group's vector.

    Reads the layout's per-arm field records (``layout.arm[arm].<name>``) when it has them,
    else its name map (``layout.f["refusals_g"]``): the typed layout of tax/ is being
    introduced in parallel (issue 15), and the report must read either."""
    per_arm: Any = getattr(layout, "arm", None)
    if per_arm is not None:
        return float(vec[getattr(per_arm[arm], name)])
    names: Any = layout.f
    return float(vec[names[f"{_OLD_NAMES[name]}_{arm[0]}"]])


def _confusion(layout: Layout, vec: FloatArray, measure: str) -> dict[str, Any]:
    """Judge against reference on the audited answers of one binary head and arm."""
    cells = confusion(layout, vec, measure)
    tp, fp = round(cells[True, True]), round(cells[True, False])
    fn, tn = round(cells[False, True]), round(cells[False, False])
    n = tp + fp + fn + tn
    return {
        "measure": measure,
        "n": n,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "error_rate": _r((fp + fn) / n) if n else None,
        "fpr": _r(fp / (fp + tn)) if fp + tn else None,
        "fnr": _r(fn / (fn + tp)) if fn + tp else None,
    }


def _judge_only(
    w: WindowSummary, layout: Layout, vec: FloatArray, measure: str
) -> tuple[float | None, list[float] | None]:
    """The judge-only figure (and its interval, where the report has one) of a measure."""
    if measure == "over_refusal":
        return w.over_refusal.point, _iv(w.over_refusal.ci)
    if measure == "safety_benefit":
        return w.safety_benefit.point, _iv(w.safety_benefit.ci)
    if measure.startswith("delta:"):
        q = w.quality[measure.split(":", 1)[1]]
        return q.point, _iv(q.ci)
    head, arm = measure.split(":", 1)
    field = "refusals" if head == "refusal" else "unsafe"
    return (arm_sum(layout, vec, field, arm) / w.pairs if w.pairs else None), None


def audit_report(
    layout: Layout, w: WindowSummary, vec: FloatArray, min_audited: int
) -> dict[str, Any] | None:
    """One group's judge-error-corrected figures (``tax/ppi.py`` through the sidecar's
    ``summarize_window``), next to the judge-only ones, and the judge's confusion counts on
    the audited pairs; ``None`` when auditing is off."""
    audit = layout.audit
    if audit is None:
        return None
    measures = []
    for name in audit.measures:
        judge, judge_ci = _judge_only(w, layout, vec, name)
        fig = w.corrected.get(name)
        measures.append(
            {
                "measure": name,
                "judge": _r(judge),
                "judge_ci": judge_ci,
                "corrected": None if fig is None else _r(fig.point),
                "ci": None if fig is None else _iv(fig.ci),
                "lambda": None if fig is None else _r(fig.lam),
            }
        )
    return {
        "audited": w.audited,
        "min_audited": min_audited,
        "available": bool(w.corrected),
        "measures": measures,
        "confusion": [
            _confusion(layout, vec, f"{head}:{arm}") for head in BINARY_HEADS for arm in ARMS
        ]
        if w.audited
        else [],
    }


def group_report(
    layout: Layout,
    name: str,
    vec: FloatArray,
    *,
    alpha: float,
    min_pairs: int,
    min_audited: int | None = None,
) -> dict[str, Any]:
    """One group's section of the report from its sufficient-statistics vector."""
    w: WindowSummary = summarize_window(
        layout, "all", vec, alpha=alpha, min_pairs_for_bounds=min_pairs, min_audited=min_audited
    )
    quality = []
    for head, q in w.quality.items():
        mu = q.mean_unguarded
        rel_ci = (
            [round(q.ci.low / mu, 6), round(q.ci.high / mu, 6)]
            if q.ci is not None and mu is not None and mu > 0
            else None
        )
        quality.append(
            {
                "head": head,
                "eligible": q.eligible,
                "point": _r(q.point),
                "ci": _iv(q.ci),
                "relative": _r(q.relative),
                "relative_ci": rel_ci,
                "mean_guarded": _r(q.mean_guarded),
                "mean_unguarded": _r(q.mean_unguarded),
                "win": _r(q.win),
                "tie": _r(q.tie),
                "loss": _r(q.loss),
            }
        )
    pairs = w.pairs
    noise = {
        arm: {
            "pairs": n.pairs,
            "flips": n.flips,
            "flip_ratio": _r(n.flip_ratio),
            "flip_ci": _iv(n.flip_ci),
            "abs_delta_mean": {h: _r(v) for h, v in n.abs_delta_mean.items()},
            "abs_delta_p90": {h: _r(v) for h, v in n.abs_delta_p90.items()},
        }
        for arm, n in w.noise.items()
    }
    lat = _distribution(layout, vec[layout.lat_g], vec[layout.lat_u], w.latency.pairs)
    lat.update(
        p50_ratio=_r(w.latency.p50_ratio),
        p95_ratio=_r(w.latency.p95_ratio),
        median_delta_s=_r(w.latency.median_delta_s),
    )
    ttft = _distribution(layout, vec[layout.ttft_g], vec[layout.ttft_u], w.ttft.pairs)
    ttft.update(p50_ratio=_r(w.ttft.p50_ratio), p95_ratio=_r(w.ttft.p95_ratio))
    return {
        "name": name,
        "pairs": pairs,
        "eligible": w.eligible,
        "quality": quality,
        "over_refusal": _prop(w.over_refusal),
        "safety_benefit": _prop(w.safety_benefit),
        "refusal_rate": {
            arm: _r(arm_sum(layout, vec, "refusals", arm) / pairs) if pairs else None
            for arm in ("guarded", "unguarded")
        },
        "unsafe_rate": {
            arm: _r(arm_sum(layout, vec, "unsafe", arm) / pairs) if pairs else None
            for arm in ("guarded", "unguarded")
        },
        "token_overhead": _r(w.token_overhead),
        "tokens": {
            arm: int(arm_sum(layout, vec, "tokens", arm)) for arm in ("guarded", "unguarded")
        },
        "noise": noise,
        "latency": lat,
        "ttft": ttft,
        "audit": (audit_report(layout, w, vec, min_audited) if min_audited is not None else None),
    }


def judge_info(repository: Path, judges: Sequence[str], head_keys: Sequence[str]) -> list[Any]:
    """Each judge's name, version and heads, with the error rates its build report measured
    (``build_report.json``'s ``metrics.<head>``: n, positives, FPR, FNR) when it has one."""
    out = []
    for name in judges:
        folder = repository / name
        manifest: dict[str, Any] = {}
        try:
            loaded = yaml.safe_load((folder / "manifest.yaml").read_text(encoding="utf-8"))
            manifest = loaded if isinstance(loaded, dict) else {}
        except (OSError, yaml.YAMLError):
            pass
        metrics: dict[str, Any] = {}
        try:
            build = json.loads((folder / "build_report.json").read_text(encoding="utf-8"))
            metrics = build.get("metrics") or {}
        except (OSError, ValueError):
            pass
        heads = []
        for h in manifest.get("heads") or []:
            if not isinstance(h, dict) or f"{name}.{h.get('name')}" not in head_keys:
                continue
            m = metrics.get(str(h.get("name"))) if isinstance(metrics, dict) else None
            error = None
            if isinstance(m, dict) and {"n", "positives", "fpr", "fnr"} <= set(m):
                error = {
                    k: _r(m[k]) if k in ("fpr", "fnr") else int(m[k])
                    for k in ("n", "positives", "fpr", "fnr")
                }
            heads.append(
                {
                    "key": f"{name}.{h.get('name')}",
                    "role": str(h.get("role", "")),
                    "threshold": _r(h.get("threshold")),
                    "measured_error": error,
                }
            )
        out.append(
            {
                "name": name,
                "version": str(manifest.get("version", "unknown")),
                "description": str(manifest.get("description", "")),
                "build_report": bool(metrics),
                "heads": heads,
            }
        )
    return out


def build_report(
    aggregator: TaxAggregator,
    *,
    counts: Mapping[str, Any],
    run: Mapping[str, Any],
    judges: list[Any],
    gallery: list[Any] | None,
    audit: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``audit``: where the reference labels came from (``mode``: labels, auditor, none; the
    labels file and its tally); the corrected figures need an aggregator with auditing on."""
    cfg = aggregator.config
    layout = aggregator.layout
    snaps = aggregator.snapshot()
    overall = np.zeros(layout.size)
    cats: dict[str, FloatArray] = {}
    unscored: dict[str, int] = {}
    for s in snaps:
        overall += s.cum
        for c, v in s.categories.items():
            cats[c] = cats.get(c, np.zeros(layout.size)) + v
        for reason, n in s.unscored.items():
            unscored[reason] = unscored.get(reason, 0) + n
    kw = {
        "alpha": cfg.alpha,
        "min_pairs": cfg.min_pairs_for_bounds,
        "min_audited": aggregator.audit_min_pairs,
    }
    audit_doc = {
        "mode": "none",
        "labels_source": None,
        "labels": None,
        "sample_rate": None,
        "selected": None,
        **(audit or {}),
    }
    audit_doc["min_audited"] = aggregator.audit_min_pairs
    order = [c for c in cfg.categories if c in cats] + ([OTHER] if OTHER in cats else [])
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": f"taxmeter {__version__}",
        "run": dict(run),
        "counts": {**counts, "unscored": dict(sorted(unscored.items()))},
        "settings": {
            "alpha": cfg.alpha,
            "tie_epsilon": cfg.tie_epsilon,
            "refusal_head": cfg.refusal_head,
            "unsafe_head": cfg.unsafe_head,
            "quality_heads": list(cfg.quality_heads),
        },
        "judges": judges,
        "audit": audit_doc,
        "overall": group_report(layout, "overall", overall, **kw),  # type: ignore[arg-type]
        "categories": [
            group_report(layout, c, cats[c], **kw)  # type: ignore[arg-type]
            for c in order
        ],
        "gallery": gallery,
    }


def deterministic_view(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report without what a rerun may change (run facts, measured latency/TTFT)."""
    out = {k: v for k, v in report.items() if k not in DETERMINISTIC_EXCLUDE}
    for key in ("overall",):
        out[key] = {k: v for k, v in report[key].items() if k not in MEASURED_GROUP_KEYS}
    out["categories"] = [
        {k: v for k, v in g.items() if k not in MEASURED_GROUP_KEYS} for g in report["categories"]
    ]
    return out


def load_schema() -> dict[str, Any]:
    text = (
        resources.files("taxmeter.replay")
        .joinpath("report.schema.json")
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema
