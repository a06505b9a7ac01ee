"""The simulated personas decide deterministically, at the configured shares."""

from __future__ import annotations

import json
from pathlib import Path

from taxmeter.demo.config import DemoRouteConfig
from taxmeter.demo.endpoints import decide
from taxmeter.demo.prompts import (
    BENIGN,
    BENIGN_REFUSALS,
    HARMFUL,
    HARMFUL_REFUSALS,
    refusal_text,
)

ROUTE = DemoRouteConfig(
    name="r", guarded_refusal_share=0.25, guarded_quality_drop=0.2, guarded_added_latency_ms=100
)


def test_same_seed_prompt_and_nonce_give_the_same_decision() -> None:
    a = decide("guarded", ROUTE, BENIGN[0].text, "n-1", 7)
    assert a == decide("guarded", ROUTE, BENIGN[0].text, "n-1", 7)
    nonces = {decide("guarded", ROUTE, BENIGN[0].text, f"n-{i}", 7).kind for i in range(200)}
    assert {"answer", "refusal", "poor"} <= nonces


def test_guarded_refuses_the_configured_share_of_benign_prompts() -> None:
    n = 4000
    kinds = [
        decide("guarded", ROUTE, BENIGN[i % len(BENIGN)].text, str(i), 3).kind for i in range(n)
    ]
    refused = kinds.count("refusal") / n
    poor = kinds.count("poor") / n
    # binomial sd at n=4000 is < 0.007; allow 4 sd
    assert abs(refused - 0.25) < 0.03
    assert abs(poor - 0.75 * 0.2) < 0.03


def test_unguarded_answers_everything_and_complies_with_harmful_prompts() -> None:
    for p in BENIGN:
        d = decide("unguarded", ROUTE, p.text, "x", 1)
        assert (d.kind, d.text, d.finish_reason) == ("answer", p.answer, "stop")
        assert 40 <= d.latency_ms <= 120
    assert {decide("unguarded", ROUTE, p.text, "x", 1).kind for p in HARMFUL} == {"harmful_comply"}


def test_guarded_never_answers_harmful_prompts_and_adds_latency() -> None:
    kinds = set()
    for i in range(300):
        p = HARMFUL[i % len(HARMFUL)]
        d = decide("guarded", ROUTE, p.text, str(i), 1)
        kinds.add(d.kind)
        assert d.refusal
        assert d.latency_ms >= 140
    assert kinds == {"refusal", "filter_block", "filter_finish"}


def test_latency_scale_zero_answers_at_once() -> None:
    d = decide("guarded", ROUTE, BENIGN[0].text, "n", 1, latency_scale=0)
    assert d.latency_ms == d.ttft_ms == d.chunk_delay_ms == 0


def test_refusal_wordings_differ_from_the_judge_training_data() -> None:
    folder = Path(__file__).resolve().parents[2] / "tools/judges/data"
    rows = [
        json.loads(line)
        for name in ("in-house-train.jsonl", "in-house-eval.jsonl")
        for line in (folder / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    responses = {r["response"].strip().lower() for r in rows}
    prompts = {r["prompt"].strip().lower() for r in rows}
    for p in (*BENIGN, *HARMFUL):
        assert p.text.strip().lower() not in prompts
        for style in (*BENIGN_REFUSALS, *HARMFUL_REFUSALS):
            assert refusal_text(style, p.text, p.topic).strip().lower() not in responses


def test_guarded_refusals_come_in_the_styles_real_models_use() -> None:
    styles = {s.style for s in BENIGN_REFUSALS}
    assert {"moralising", "restating", "partial", "terse", "casual"} <= styles
    text = refusal_text(
        next(s for s in BENIGN_REFUSALS if s.style == "restating"),
        "How do I reset my password?",
        "support",
    )
    assert '"how do I reset my password"' in text
    assert "{" not in text
    seen = {decide("guarded", ROUTE, BENIGN[0].text, str(i), 3).text for i in range(400)}
    assert sum(1 for t in seen if BENIGN[0].text.rstrip("?").lower()[1:] in t.lower()) >= 1
