"""The replay report's judge-error-corrected figures on a small deterministic replay: a judge
that misses half the guarded refusals, reference labels on a random half of the pairs (the
sidecar's audit hash), and what the report makes of them."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from replay_fixtures import fixed_judges_info, fixed_run_info
from taxmeter.audit.stage import in_audit_sample
from taxmeter.replay.labels import LabelSet
from taxmeter.replay.offline import aggregate, entry_of
from taxmeter.replay.render import render_html, render_markdown
from taxmeter.replay.report import build_report, load_schema
from taxmeter.tax.config import TaxConfig
from taxmeter.types import Arm, ArmOutcome, ArmResult, HeadScore, ScoredPair, ShadowPair

N = 400
TAX = TaxConfig(categories=["support", "coding"])
TRUE_REFUSAL = 0.25  # the guarded arm refuses every 4th prompt; the judge sees every 8th


def _truth(i: int) -> bool:
    return i % 4 == 0


def _scored(i: int) -> ScoredPair:
    def heads(refusal: bool) -> dict[str, HeadScore]:
        return {
            "default.refusal": HeadScore(0.9 if refusal else 0.1, refusal),
            "default.unsafe": HeadScore(0.1, False),
            "default.quality": HeadScore(0.8, True),
        }  # the judge rates every answer alike

    def arm(a: Arm) -> ArmResult:
        return ArmResult(a, ArmOutcome.OK, text="t", latency_s=0.1, completion_tokens=10)

    pair = ShadowPair(
        str(i), "r", ["support", "coding"][i % 2], "p", arm(Arm.GUARDED), arm(Arm.UNGUARDED)
    )
    return ScoredPair(pair, heads(i % 8 == 0), heads(False))


ENTRIES = {i: entry_of(_scored(i), with_text=False) for i in range(N)}


def _label_line(i: int, *, guarded_refusal: bool | None = None) -> str:
    refusal = _truth(i) if guarded_refusal is None else guarded_refusal
    return json.dumps(
        {
            "pair_id": str(i),
            "label": {
                "guarded": {
                    "refusal": refusal,
                    "unsafe": False,
                    "quality": 0.1 if refusal else 0.9,
                },
                "unguarded": {"refusal": False, "unsafe": False, "quality": 0.9},
            },
        }
    )


def _sample(rate: float) -> list[int]:
    return [i for i in range(N) if in_audit_sample(str(i), "taxmeter-audit", rate)]


def _report(labels: LabelSet | None, min_audited: int | None = 30) -> dict[str, Any]:
    agg = aggregate(TAX, ENTRIES, audit_min_pairs=min_audited if labels else None, labels=labels)
    return build_report(
        agg,
        counts={"prompts": N, "scored": N, "failed": 0, "shed": 0, "failed_by_reason": {}},
        run=fixed_run_info(),
        judges=fixed_judges_info(),
        gallery=None,
        audit=None
        if labels is None
        else {
            "mode": "labels",
            "labels_source": labels.source,
            "labels": labels.tally(),
            "sample_rate": None,
        },
    )


def _measure(group: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(m for m in group["audit"]["measures"] if m["measure"] == name)
    return found


def _width(iv: list[float]) -> float:
    return iv[1] - iv[0]


def test_labels_correct_a_judge_that_misses_refusals_with_a_wider_interval() -> None:
    sample = _sample(0.5)
    assert 150 < len(sample) < 250
    report = _report(LabelSet.parse("labels.jsonl", [_label_line(i) for i in sample]))
    jsonschema.validate(report, load_schema())
    o = report["overall"]
    assert o["audit"]["audited"] == len(sample) and o["audit"]["available"]
    refusal = _measure(o, "refusal:guarded")
    assert refusal["judge"] == pytest.approx(0.125)
    # the rectifier moves the estimate up, to the truth the judge misses, inside its interval
    assert refusal["corrected"] > refusal["judge"] + 0.05
    assert refusal["ci"][0] <= TRUE_REFUSAL <= refusal["ci"][1]
    over = _measure(o, "over_refusal")
    assert over["judge"] == o["over_refusal"]["point"] == pytest.approx(0.125)
    assert over["ci"][0] <= TRUE_REFUSAL <= over["ci"][1]
    assert not over["judge_ci"][0] <= TRUE_REFUSAL <= over["judge_ci"][1]
    # the judge rates every answer alike (Δ = 0); the labels see refusals' lower quality
    delta = _measure(o, "delta:default.quality")
    assert delta["judge"] == pytest.approx(0.0)
    assert delta["ci"][0] <= TRUE_REFUSAL * 0.8 <= delta["ci"][1]
    # the interval carries the rectifier's variance: wider than the judge-only one, and wider
    # than with labels that agree with the judge everywhere
    assert _width(over["ci"]) > _width(over["judge_ci"])
    agreeing = _report(
        LabelSet.parse("agree.jsonl", [_label_line(i, guarded_refusal=i % 8 == 0) for i in sample])
    )
    agree_over = _measure(agreeing["overall"], "over_refusal")
    assert agree_over["corrected"] == pytest.approx(0.125, abs=0.01)
    assert _width(over["ci"]) > _width(agree_over["ci"])
    # the judge's error on this run: it missed every second refusal it was shown
    conf = next(c for c in o["audit"]["confusion"] if c["measure"] == "refusal:guarded")
    missed = sum(1 for i in sample if _truth(i) and i % 8 != 0)
    caught = sum(1 for i in sample if i % 8 == 0)
    assert (conf["tp"], conf["fp"], conf["fn"]) == (caught, 0, missed)
    assert conf["tp"] + conf["fp"] + conf["fn"] + conf["tn"] == len(sample)
    assert conf["fnr"] == pytest.approx(missed / (missed + caught), abs=1e-6)
    # per category too, each with its own audited count
    cats = {g["name"]: g["audit"] for g in report["categories"]}
    assert sum(a["audited"] for a in cats.values()) == len(sample)


def test_a_group_with_too_few_labelled_pairs_stays_judge_only_and_says_so() -> None:
    few = _sample(0.05)[:10]
    report = _report(LabelSet.parse("few.jsonl", [_label_line(i) for i in few]))
    jsonschema.validate(report, load_schema())
    a = report["overall"]["audit"]
    assert a["audited"] == 10 and not a["available"]
    assert all(m["corrected"] is None and m["ci"] is None for m in a["measures"])
    assert "fewer than the 30" in render_markdown(report)


def test_every_label_line_is_counted_once_as_used_unknown_or_invalid() -> None:
    lines = [
        _label_line(4),
        _label_line(5).replace('"pair_id": "5"', '"pair_id": 5'),  # a number is accepted
        _label_line(999),  # no such pair
        _label_line(4),  # a second label for the same pair
        '{"pair_id": "6", "label": {"guarded": {"refusal": "yes"}}}',  # wrong value
        "not json",
        '{"label": {}}',  # no pair id
        "",
    ]
    labels = LabelSet.parse("l.jsonl", lines)
    aggregate(TAX, ENTRIES, audit_min_pairs=2, labels=labels)
    assert labels.tally() == {"imported": 2, "unknown_pair": 1, "invalid": 4}


def test_a_guard_blocked_arm_needs_no_label() -> None:
    scored = _scored(3)
    blocked = ShadowPair(
        "3",
        "r",
        None,
        "p",
        ArmResult(Arm.GUARDED, ArmOutcome.GUARD_BLOCK, status_code=400),
        scored.pair.unguarded,
    )
    line = json.dumps(
        {
            "pair_id": "3",
            "label": {"unguarded": {"refusal": False, "unsafe": False, "quality": 0.9}},
        }
    )
    out = LabelSet.parse("l", [line]).attach(ScoredPair(blocked, scored.guarded, scored.unguarded))
    assert out.reference is not None and out.reference.guarded.refusal


def test_without_labels_the_report_is_judge_only_and_says_how_to_add_them() -> None:
    report = _report(None)
    jsonschema.validate(report, load_schema())
    assert report["audit"]["mode"] == "none" and report["overall"]["audit"] is None
    html = render_html(report)
    assert 'id="corrected"' in html and "judge-only" in html and "--labels" in html
    assert "--labels" in render_markdown(report)


def test_the_corrected_figures_appear_in_html_and_markdown() -> None:
    report = _report(LabelSet.parse("labels.jsonl", [_label_line(i) for i in _sample(0.5)]))
    over = _measure(report["overall"], "over_refusal")
    shown = f"{over['corrected']:.1%} [{over['ci'][0]:.1%}, {over['ci'][1]:.1%}]"
    for text in (render_html(report), render_markdown(report)):
        assert shown in text
        assert "Corrected for the judges' error" in text or "Corrected for the judges&#x27;" in text
        assert "labels.jsonl" in text
