"""Issue 4, end to end: the whole sidecar (real gRPC ingress, sampler, dispatcher, real default
judges on CPU, tax aggregator, /metrics) on simulated endpoints whose guarded persona refuses a
set share of benign prompts, in wording not taken from the judges' training data. After enough
traffic, the exported over-refusal interval, widened by the refusal judge's documented error
(read from the judge's ``build_report.json``), contains each route's setting.

Slow: ≈ 15 s on 2 idle CPU cores (900 short pairs, ≈ 70 pairs/s), ≈ 1 min while other tests
run. Set
``TAXMETER_DEFAULT_JUDGES=DIR`` to use an already built repository; otherwise the default
judges in the user cache are used (built there the first time, ≈ 40 s more). Run with ``-s``
to see the table. The error model is in ``tax_e2e_fixtures`` and docs/statistics-e2e.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from app_fixtures import Exposition, app_document, scrape
from build_budget import body_timeout, within_build_budget
from prometheus_client import CollectorRegistry
from tax_e2e_fixtures import (
    JudgedText,
    RealisedRoute,
    RefusalJudgeError,
    default_judges,
    expected_measured,
    realised,
    replay,
    widen,
)
from taxmeter.app import App
from taxmeter.config import config_from_dict
from taxmeter.demo.config import DemoConfig, DemoRouteConfig
from taxmeter.demo.endpoints import SimulatedEndpoint
from taxmeter.demo.traffic import TrafficGenerator
from taxmeter.tax.estimators import Interval
from taxmeter.types import JudgeInput

# The judges are built (first run only) in the fixture, under their own budget
# (build_budget.py); pytest's timeout covers the test body.
pytestmark = [pytest.mark.slow, body_timeout(420)]

SEED = 20261127
SETTINGS = {"or-05": 0.05, "or-25": 0.25, "or-50": 0.50}
# The negative check: a value 0.3 from the setting must be outside the widened interval. The
# high end is stretched by ≈ 1/(1 − FNR_high) ≈ 1.5 (the judge's FNR is known from 40
# positives), so for 0.5 the wrong value is taken below the setting.
WRONG = {"or-05": 0.35, "or-25": 0.55, "or-50": 0.20}
MIRRORS = 900  # routes drawn with equal weight: ≈ 300 pairs per route
WINDOW = "1h"
ALPHA = 0.05


@pytest.fixture(scope="session")
def judges_repo() -> Path:
    from taxmeter.judgetools.weights import MissingWeightsError

    try:
        return within_build_budget("the default judges (user cache)", default_judges)
    except MissingWeightsError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"the default judges cannot be built here: {exc}")


def demo_routes() -> list[DemoRouteConfig]:
    return [
        DemoRouteConfig(
            name=name,
            weight=1.0,
            guarded_refusal_share=share,
            guarded_quality_drop=0.0,
            guarded_added_latency_ms=0.0,
            harmful_share=0.0,
        )
        for name, share in SETTINGS.items()
    ]


def exported_interval(m: Exposition, route: str, stat_low: str, stat_high: str) -> Interval:
    def value(stat: str) -> float:
        found = [
            s.value
            for s in m.samples
            if s.name == "taxmeter_over_refusal_ratio"
            and s.labels == {"route": route, "window": WINDOW, "stat": stat}
        ]
        assert len(found) == 1, (route, stat, found)
        return found[0]

    return Interval(value(stat_low), value(stat_high))


def point(m: Exposition, route: str) -> float:
    return m.total("taxmeter_over_refusal_ratio", route=route, window=WINDOW, stat="point")


async def test_exported_over_refusal_interval_widened_by_judge_error_contains_each_setting(
    judges_repo: Path,
) -> None:
    t0 = time.perf_counter()
    judge_error = RefusalJudgeError.from_repository(judges_repo, alpha=ALPHA)
    routes = demo_routes()
    demo = DemoConfig(
        routes=routes, rate_per_s=2000.0, seed=SEED, stream_share=0.5, latency_scale=0.0
    )
    guarded = SimulatedEndpoint("guarded", routes, SEED, latency_scale=0.0)
    unguarded = SimulatedEndpoint("unguarded", routes, SEED, latency_scale=0.0)
    guarded.keep_bodies = True
    await guarded.start()
    await unguarded.start()
    try:
        await _run(judges_repo, judge_error, routes, demo, guarded, unguarded, t0)
    finally:
        await guarded.aclose()
        await unguarded.aclose()


async def _run(
    judges_repo: Path,
    judge_error: RefusalJudgeError,
    routes: list[DemoRouteConfig],
    demo: DemoConfig,
    guarded: SimulatedEndpoint,
    unguarded: SimulatedEndpoint,
    t0: float,
) -> None:
    # The build report also documents the unsafe head's error: with no harmful prompts sent, a
    # pair is ineligible only when that head wrongly flags a benign unguarded answer.
    unsafe_error = RefusalJudgeError.from_report(
        json.loads((judges_repo / "default" / "build_report.json").read_text(encoding="utf-8")),
        alpha=ALPHA,
        head="unsafe",
    )
    doc = app_document(
        guarded.base_url,
        unguarded.base_url,
        judges_repo,
        sampling={"rate": 1.0, "salt": "tax-e2e"},
        shadow={"queue_size": MIRRORS + 20, "concurrency": 16, "drain_grace_s": 10},
        tax={"windows": [WINDOW], "alpha": ALPHA},
    )
    doc["routes"] = list(SETTINGS)
    doc["judges"].update(intra_op_threads=2, max_batch_size=32)
    app = App(config_from_dict(doc), env={}, registry=CollectorRegistry())
    ports = await app.start()
    traffic = TrafficGenerator(f"127.0.0.1:{ports.grpc}", demo, max_in_flight=MIRRORS)
    try:
        await app.engine.wait_ready(timeout_s=120)
        t_ready = time.perf_counter()
        await traffic.run(count=MIRRORS)
        async with asyncio.timeout(300):
            while app.ledger.open_jobs():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        t_judged = time.perf_counter()
        m = await scrape(ports.metrics)
        summaries = {route: app.aggregator.summary(route) for route in SETTINGS}
        # What the personas did, replayed from the bodies the guarded endpoint got, and the
        # judge's decisions on each distinct text they sent (for the breakdown below).
        pairs = replay(guarded.bodies, routes, SEED)
        texts = sorted({(p.prompt, d.text) for p in pairs for d in (p.guarded, p.unguarded)})
        scores = await app.engine.score_many([JudgeInput(*t) for t in texts])
        tax = app.config.tax
        judged: JudgedText = {
            t: (s[tax.refusal_head].decision, s[tax.unsafe_head].decision)
            for t, s in zip(texts, scores, strict=True)
        }
    finally:
        await traffic.aclose()
        await app.stop()

    # Everything sent was sampled and judged: no drop, shed or failure skews the shares.
    sent = traffic.stats()
    assert (sent.sent, sent.acked, sent.sampled, sent.errors, sent.overrun) == (
        MIRRORS,
        MIRRORS,
        MIRRORS,
        0,
        0,
    )
    assert m.total("taxmeter_shadow_jobs_total", outcome="completed") == MIRRORS
    assert m.total("taxmeter_pairs_total") == MIRRORS

    # The replay agrees with the guarded endpoint's own counters (it is what was sent) ...
    assert Counter(p.guarded.kind for p in pairs) == guarded.stats()["decisions"]
    actual = realised(pairs, judged)
    assert {r: v.requests for r, v in actual.items()} == guarded.stats()["by_route"]

    # Issue 9's unsafe target on known endpoints: every unguarded answer here is a helpful
    # answer to a benign request, so each unsafe flag is a false positive (it drops the pair
    # and would show up as an invented safety benefit). At most 2 % of them may be flagged.
    flagged = sum(r.requests - r.eligible for r in actual.values())
    answered = sum(r.requests for r in actual.values())
    print(
        f"\nunsafe flags on helpful answers to benign requests: {flagged}/{answered} "
        f"= {flagged / answered:.4f} (target <= 0.02)"
    )
    assert flagged <= 0.02 * answered, (flagged, answered)

    fnr_box, fpr_box = judge_error.fnr_interval, judge_error.fpr_interval
    rows = []
    for route, setting in SETTINGS.items():
        eligible = m.total("taxmeter_pairs_total", route=route, eligible="true")
        complete = m.total("taxmeter_pairs_total", route=route)
        over = m.total("taxmeter_over_refusals_total", route=route)
        measured = point(m, route)
        ci = exported_interval(m, route, "ci_low", "ci_high")
        cs = exported_interval(m, route, "cs_low", "cs_high")
        widened = widen(ci, fnr_box, fpr_box)
        real = actual[route]
        rows.append((route, setting, real, measured, ci, cs, widened))

        # enough traffic for a useful interval, and no more pairs ineligible than the unsafe
        # head's documented false-positive rate allows (upper Wilson bound; no harmful prompts)
        assert eligible >= 200, (route, eligible)
        assert eligible >= (1.0 - unsafe_error.fpr_interval.high) * complete, (
            route,
            eligible,
            complete,
            unsafe_error.fpr_interval,
        )
        # ... and taxmeter counted exactly what the judge's decisions on the sent texts imply:
        # the measured rate differs from the realised share only by the judge's errors.
        assert (over, eligible) == (real.over_refusals, real.eligible), (route, real)
        # the raw (unwidened) interval is exported, consistent, and agrees with the summary
        assert measured == pytest.approx(over / eligible)
        assert 0.0 <= ci.low < measured < ci.high <= 1.0, (route, ci)
        window = summaries[route].windows[WINDOW].over_refusal
        assert window.ci is not None
        assert (window.ci.low, window.ci.high) == pytest.approx((ci.low, ci.high))
        # the requirement: the widened interval contains the setting ...
        assert widened.low <= setting <= widened.high, (route, setting, ci, widened)
        # ... and is informative: a clearly wrong value is outside it
        wrong = WRONG[route]
        assert not widened.low <= wrong <= widened.high, (route, wrong, widened)

    print_table(rows, judge_error, t_ready - t0, t_judged - t_ready)


Row = tuple[str, float, RealisedRoute, float, Interval, Interval, Interval]


def print_table(rows: list[Row], err: RefusalJudgeError, warm_s: float, run_s: float) -> None:
    fnr, fpr = err.fnr_interval, err.fpr_interval
    print(
        f"\nrefusal judge (build report): FNR {err.false_negatives}/{err.positives} "
        f"= {err.fnr:.3f} [{fnr.low:.3f}, {fnr.high:.3f}], FPR {err.false_positives}/"
        f"{err.negatives} = {err.fpr:.3f} [{fpr.low:.3f}, {fpr.high:.3f}] (Wilson 95 %)"
    )
    print(
        "route | setting | realised | judge on this traffic: caught, false refusals "
        "| E[measured] | measured (over/eligible) | 95 % CI | CS | widened"
    )
    for route, setting, real, measured, ci, cs, wide in rows:
        expect = expected_measured(setting, err.fnr, err.fpr)
        print(
            f"{route} | {setting:.2f} | {real.share:.3f} ({real.refusals}/{real.requests}) "
            f"| {real.caught}/{real.refusals}, {real.false_refusals}/{real.helpful} "
            f"| {expect:.3f} | {measured:.3f} ({real.over_refusals}/{real.eligible}) "
            f"| [{ci.low:.3f}, {ci.high:.3f}] | [{cs.low:.3f}, {cs.high:.3f}] "
            f"| [{wide.low:.3f}, {wide.high:.3f}]"
        )
    total = sum(r[2].requests for r in rows)
    print(
        f"judges warm {warm_s:.1f} s; {total} pairs sent and judged in {run_s:.1f} s "
        f"({total / run_s:.1f} pairs/s)"
    )
