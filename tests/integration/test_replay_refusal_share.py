"""Issue 14: ``taxmeter replay`` against the demo's simulated endpoints, whose guarded persona
refuses a set share of benign prompts per category, with the real default judges: each
category's over-refusal interval in the report, widened by the refusal judge's documented
error (its ``build_report.json``, as in test_tax_e2e_over_refusal.py), contains the setting,
and a clearly wrong value is outside it.

Slow: 900 pairs through the default judges (≈ 15 s on 2 idle cores, minutes while other tests
run). ``TAXMETER_DEFAULT_JUDGES=DIR`` points at a built repository; otherwise the default
judges in the user cache are used (built there the first time). Run with ``-s`` for the table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from replay_fixtures import replay, replay_document, write_config
from tax_e2e_fixtures import RefusalJudgeError, default_judges, widen
from taxmeter.demo.config import DemoConfig, DemoRouteConfig
from taxmeter.demo.endpoints import SimulatedEndpoint
from taxmeter.demo.traffic import TrafficPlan
from taxmeter.replay.report import load_schema
from taxmeter.tax.estimators import Interval

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SEED = 20261202
SETTINGS = {"or-05": 0.05, "or-25": 0.25, "or-50": 0.50}
WRONG = {"or-05": 0.35, "or-25": 0.55, "or-50": 0.20}  # see test_tax_e2e_over_refusal.py
PROMPTS = 900
ALPHA = 0.05


@pytest.fixture(scope="session")
def judges_repo() -> Path:
    from taxmeter.judgetools.weights import MissingWeightsError

    try:
        return default_judges()
    except MissingWeightsError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"the default judges cannot be built here: {exc}")


def _routes() -> list[DemoRouteConfig]:
    return [
        DemoRouteConfig(
            name=name,
            weight=1.0,
            category=name,
            guarded_refusal_share=share,
            guarded_quality_drop=0.0,
            guarded_added_latency_ms=0.0,
            harmful_share=0.0,
        )
        for name, share in SETTINGS.items()
    ]


async def test_replay_reproduces_each_categorys_refusal_share_within_the_widened_interval(
    tmp_path: Path, judges_repo: Path
) -> None:
    routes = _routes()
    demo = DemoConfig(routes=routes, seed=SEED, stream_share=0.5, latency_scale=0.0)
    plan = TrafficPlan(demo)
    prompts = tmp_path / "prompts.jsonl"
    with prompts.open("w", encoding="utf-8") as f:
        for _ in range(PROMPTS):
            p = plan.next()
            f.write(
                json.dumps({**p.body(SEED), "route": p.route.name, "category": p.route.name}) + "\n"
            )
    g = SimulatedEndpoint("guarded", routes, SEED, latency_scale=0.0)
    u = SimulatedEndpoint("unguarded", routes, SEED, latency_scale=0.0)
    await g.start()
    await u.start()
    try:
        doc = replay_document(g.base_url, u.base_url, judges_repo, demo, concurrency=16)
        doc["categories"] = list(SETTINGS)
        doc["judges"].update(intra_op_threads=2, max_batch_size=32)
        doc["tax"] = {"alpha": ALPHA}
        cfg = write_config(tmp_path / "taxmeter.yaml", doc)
        assert (
            await replay(str(prompts), "-c", str(cfg), "--report", str(tmp_path / "out" / "r.html"))
            == 0
        )
    finally:
        await g.aclose()
        await u.aclose()
    report = json.loads((tmp_path / "out" / "r.json").read_text(encoding="utf-8"))
    jsonschema.validate(report, load_schema())
    assert report["counts"]["scored"] == PROMPTS

    err = RefusalJudgeError.from_repository(judges_repo, alpha=ALPHA)
    # The report carries the same error rates it was judged with (from the build report).
    refusal = next(h for j in report["judges"] for h in j["heads"] if h["role"] == "refusal")
    assert refusal["measured_error"]["fnr"] == pytest.approx(err.fnr, abs=1e-4)
    assert refusal["measured_error"]["fpr"] == pytest.approx(err.fpr, abs=1e-4)
    by_name = {c["name"]: c for c in report["categories"]}
    assert set(by_name) == set(SETTINGS)
    print(f"\nrefusal judge: FNR {err.fnr:.3f}, FPR {err.fpr:.3f}")
    for name, setting in SETTINGS.items():
        o = by_name[name]["over_refusal"]
        assert o["pairs"] >= 200, (name, o)
        ci = Interval(*o["ci"])
        widened = widen(ci, err.fnr_interval, err.fpr_interval)
        print(
            f"{name} | set {setting:.2f} | measured {o['point']:.3f} ({o['count']}/"
            f"{o['pairs']}) | CI [{ci.low:.3f}, {ci.high:.3f}] | widened "
            f"[{widened.low:.3f}, {widened.high:.3f}]"
        )
        assert widened.low <= setting <= widened.high, (name, setting, ci, widened)
        assert not widened.low <= WRONG[name] <= widened.high, (name, WRONG[name], widened)
