from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from taxmeter.tax import TaxAggregator, TaxCollector, TaxConfig
from taxmeter.tax.cs import boundary
from taxmeter.types import Arm, ArmOutcome, ArmResult, HeadScore, ScoredPair, ShadowPair


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def _registered(
    registry: CollectorRegistry, config: TaxConfig, *, clock: FakeClock
) -> TaxAggregator:
    """An aggregator with its collector on ``registry`` (what ``app.py`` does)."""
    agg = TaxAggregator(config, clock=clock)
    registry.register(TaxCollector(agg))
    return agg


def scores(q: float, *, refusal: bool = False, unsafe: bool = False) -> dict[str, HeadScore]:
    return {
        "default.quality": HeadScore(q, q >= 0.5),
        "default.refusal": HeadScore(1.0 if refusal else 0.0, refusal),
        "default.unsafe": HeadScore(1.0 if unsafe else 0.0, unsafe),
    }


def make(
    qg: float,
    qu: float,
    *,
    route: str = "chat",
    g_refusal: bool = False,
    u_refusal: bool = False,
    u_unsafe: bool = False,
    g_unsafe: bool = False,
    g_block: bool = False,
    latency: tuple[float, float] | None = None,
    ttft: tuple[float, float] | None = None,
    tokens: tuple[int, int] | None = None,
    reused: bool = False,
    repeat: tuple[Arm, float, bool] | None = None,
    category: str | None = None,
) -> ScoredPair:
    g = ArmResult(
        Arm.GUARDED,
        ArmOutcome.GUARD_BLOCK if g_block else ArmOutcome.OK,
        latency_s=latency[0] if latency else None,
        ttft_s=ttft[0] if ttft else None,
        completion_tokens=tokens[0] if tokens else None,
        reused_production=reused,
    )
    u = ArmResult(
        Arm.UNGUARDED,
        ArmOutcome.OK,
        latency_s=latency[1] if latency else None,
        ttft_s=ttft[1] if ttft else None,
        completion_tokens=tokens[1] if tokens else None,
    )
    rep = ArmResult(repeat[0], ArmOutcome.OK) if repeat else None
    pair = ShadowPair("r1", route, category, "prompt", g, u, repeat=rep)
    return ScoredPair(
        pair,
        scores(qg, refusal=g_refusal, unsafe=g_unsafe),
        scores(qu, refusal=u_refusal, unsafe=u_unsafe),
        scores(repeat[1], refusal=repeat[2]) if repeat else None,
    )


Setup = tuple[TaxAggregator, CollectorRegistry, FakeClock]


@pytest.fixture
def setup() -> Setup:
    registry = CollectorRegistry()
    clock = FakeClock()
    agg = _registered(registry, TaxConfig(windows=["5m", "1h"]), clock=clock)
    return agg, registry, clock


def val(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_counters_and_window_estimates_match_hand_computation(setup: Setup) -> None:
    agg, reg, _ = setup
    # d = qu - qg: 0.2, 0.0, 0.4 ; fourth pair ineligible (unguarded unsafe, guarded safe)
    agg.observe(make(0.6, 0.8))
    agg.observe(make(0.5, 0.5))
    agg.observe(make(0.1, 0.5, g_refusal=True))
    agg.observe(make(0.9, 0.2, u_unsafe=True))
    assert val(reg, "taxmeter_pairs_total", route="chat", eligible="true") == 3
    assert val(reg, "taxmeter_pairs_total", route="chat", eligible="false") == 1
    assert val(
        reg, "taxmeter_quality_score_sum", route="chat", judge="default.quality", arm="guarded"
    ) == pytest.approx(1.2)
    assert val(
        reg, "taxmeter_quality_score_sum", route="chat", judge="default.quality", arm="unguarded"
    ) == pytest.approx(1.8)
    assert val(
        reg, "taxmeter_quality_delta_squares_sum", route="chat", judge="default.quality"
    ) == pytest.approx(0.2)
    # V: (0.2-0)^2 + (0.0-0.2)^2 + (0.4-0.1)^2 = 0.04 + 0.04 + 0.09
    assert val(
        reg, "taxmeter_quality_delta_variance_process_sum", route="chat", judge="default.quality"
    ) == pytest.approx(0.17)
    assert val(reg, "taxmeter_over_refusals_total", route="chat") == 1
    # x = 0, 0, 1: V_or = 0 + 0 + 1
    assert val(reg, "taxmeter_over_refusal_variance_process_sum", route="chat") == 1
    assert val(reg, "taxmeter_safety_benefits_total", route="chat") == 1
    assert val(reg, "taxmeter_unsafe_answers_total", route="chat", arm="unguarded") == 1
    assert val(reg, "taxmeter_refusals_total", route="chat", arm="guarded") == 1
    for result, n in (("loss", 2), ("tie", 1), ("win", 0)):
        assert (
            val(
                reg,
                "taxmeter_quality_comparisons_total",
                route="chat",
                judge="default.quality",
                result=result,
            )
            == n
        )
    lbl = {"route": "chat", "judge": "default.quality", "window": "5m"}
    assert reg.get_sample_value(
        "taxmeter_alignment_tax", {**lbl, "stat": "point"}
    ) == pytest.approx(0.2)
    u = boundary(0.17, 2.0, 0.05)
    assert reg.get_sample_value(
        "taxmeter_alignment_tax", {**lbl, "stat": "cs_low"}
    ) == pytest.approx(max(-1.0, (0.6 - u) / 3))
    assert reg.get_sample_value("taxmeter_alignment_tax_relative", lbl) == pytest.approx(
        1 - 0.4 / 0.6
    )
    assert val(
        reg, "taxmeter_over_refusal_ratio", route="chat", window="1h", stat="point"
    ) == pytest.approx(1 / 3)
    assert val(
        reg, "taxmeter_safety_benefit_ratio", route="chat", window="1h", stat="point"
    ) == pytest.approx(1 / 4)
    assert val(reg, "taxmeter_window_pairs", route="chat", window="1h") == 4


def test_guard_block_counts_as_refusal_not_unsafe_whatever_the_judge_says(setup: Setup) -> None:
    agg, reg, _ = setup
    agg.observe(make(0.3, 0.9, g_block=True, g_unsafe=True, g_refusal=False))
    assert val(reg, "taxmeter_refusals_total", route="chat", arm="guarded") == 1
    assert val(reg, "taxmeter_unsafe_answers_total", route="chat", arm="guarded") == 0
    assert val(reg, "taxmeter_over_refusals_total", route="chat") == 1
    assert val(
        reg, "taxmeter_quality_score_sum", route="chat", judge="default.quality", arm="guarded"
    ) == pytest.approx(0.3)


def test_one_sample_window_exports_point_but_no_interval(setup: Setup) -> None:
    agg, reg, _ = setup
    agg.observe(make(0.5, 0.7))
    lbl = {"route": "chat", "judge": "default.quality", "window": "5m"}
    assert reg.get_sample_value(
        "taxmeter_alignment_tax", {**lbl, "stat": "point"}
    ) == pytest.approx(0.2)
    assert reg.get_sample_value("taxmeter_alignment_tax", {**lbl, "stat": "ci_low"}) is None
    text = generate_latest(reg).decode()
    assert "NaN" not in text


def test_empty_window_after_expiry_exports_no_estimate(setup: Setup) -> None:
    agg, reg, clock = setup
    agg.observe(make(0.5, 0.7))
    agg.observe(make(0.5, 0.9))
    clock.now += 400  # past 5m, within 1h
    lbl = {"route": "chat", "judge": "default.quality"}
    assert (
        reg.get_sample_value("taxmeter_alignment_tax", {**lbl, "window": "5m", "stat": "point"})
        is None
    )
    assert reg.get_sample_value("taxmeter_window_pairs", {"route": "chat", "window": "5m"}) == 0
    assert reg.get_sample_value(
        "taxmeter_alignment_tax", {**lbl, "window": "1h", "stat": "point"}
    ) == pytest.approx(0.3)
    assert reg.get_sample_value("taxmeter_pairs_total", {"route": "chat", "eligible": "true"}) == 2
    assert "NaN" not in generate_latest(reg).decode()


def test_latency_only_from_comparable_pairs_with_negative_delta_buckets(setup: Setup) -> None:
    agg, reg, _ = setup
    agg.observe(make(0.5, 0.5, latency=(2.0, 1.0), ttft=(0.4, 0.2), tokens=(30, 10)))
    agg.observe(make(0.5, 0.5, latency=(1.0, 3.0), tokens=(10, 10)))
    agg.observe(make(0.5, 0.5, latency=(9.0, 1.0), tokens=(99, 1), reused=True))
    assert val(reg, "taxmeter_latency_comparable_pairs_total", route="chat") == 2
    assert val(reg, "taxmeter_paired_latency_seconds_total", route="chat", arm="guarded") == 3.0
    assert val(reg, "taxmeter_output_tokens_total", route="chat", arm="guarded") == 40
    assert val(reg, "taxmeter_latency_delta_seconds_bucket", route="chat", le="-1.0") == 1
    assert val(reg, "taxmeter_latency_delta_seconds_bucket", route="chat", le="0.0") == 1
    assert val(reg, "taxmeter_latency_delta_seconds_bucket", route="chat", le="1.0") == 2
    assert val(reg, "taxmeter_latency_delta_seconds_bucket", route="chat", le="+Inf") == 2
    assert val(reg, "taxmeter_latency_delta_seconds_sum", route="chat") is None
    assert val(reg, "taxmeter_token_overhead_ratio", route="chat", window="5m") == 2.0
    assert val(reg, "taxmeter_ttft_comparable_pairs_total", route="chat") == 1
    ratio = val(reg, "taxmeter_ttft_overhead_ratio", route="chat", window="5m", percentile="p50")
    assert ratio == pytest.approx(2.0, rel=0.2)


def test_noise_floor_counts_flips_and_abs_delta_for_the_repeated_arm(setup: Setup) -> None:
    agg, reg, _ = setup
    agg.observe(make(0.6, 0.8, repeat=(Arm.GUARDED, 0.2, True)))  # flip, |dq| 0.4
    agg.observe(make(0.6, 0.8, repeat=(Arm.GUARDED, 0.5, False)))  # no flip, |dq| 0.1
    assert val(reg, "taxmeter_noise_pairs_total", route="chat", arm="guarded") == 2
    assert val(reg, "taxmeter_noise_pairs_total", route="chat", arm="unguarded") == 0
    assert val(reg, "taxmeter_noise_refusal_flips_total", route="chat", arm="guarded") == 1
    assert (
        val(reg, "taxmeter_noise_refusal_flip_ratio", route="chat", arm="guarded", window="5m")
        == 0.5
    )
    assert (
        val(reg, "taxmeter_noise_refusal_flip_ratio", route="chat", arm="unguarded", window="5m")
        is None
    )
    assert val(
        reg,
        "taxmeter_noise_quality_abs_delta",
        route="chat",
        judge="default.quality",
        arm="guarded",
        window="5m",
        stat="mean",
    ) == pytest.approx(0.25)


def test_missing_head_skips_pair_and_counts_it(setup: Setup) -> None:
    agg, reg, _ = setup
    sp = make(0.5, 0.5)
    broken = ScoredPair(sp.pair, {"default.quality": HeadScore(0.5, True)}, sp.unguarded)
    agg.observe(broken)
    agg.observe(make(0.5, 0.5))
    assert val(reg, "taxmeter_pairs_unscored_total", route="chat", reason="missing_head") == 1
    assert val(reg, "taxmeter_pairs_total", route="chat", eligible="true") == 1


def test_categories_outside_allowlist_are_other() -> None:
    reg = CollectorRegistry()
    agg = _registered(reg, TaxConfig(categories=["code"]), clock=FakeClock())
    agg.observe(make(0.5, 0.7, category="code"))
    agg.observe(make(0.5, 0.9, category="secret-project"))
    agg.observe(make(0.5, 0.9, category=None))
    assert (
        reg.get_sample_value(
            "taxmeter_category_pairs_total",
            {"route": "chat", "category": "code", "eligible": "true"},
        )
        == 1
    )
    assert (
        reg.get_sample_value(
            "taxmeter_category_pairs_total",
            {"route": "chat", "category": "other", "eligible": "true"},
        )
        == 2
    )
    assert reg.get_sample_value(
        "taxmeter_category_quality_score_sum",
        {"route": "chat", "category": "other", "judge": "default.quality", "arm": "unguarded"},
    ) == pytest.approx(1.8)


def test_routes_beyond_max_routes_fold_into_other() -> None:
    reg = CollectorRegistry()
    agg = _registered(reg, TaxConfig(max_routes=3), clock=FakeClock())
    for r in ("a", "b", "c", "d"):
        agg.observe(make(0.5, 0.5, route=r))
    assert agg.routes() == ["a", "b", "other"]


def test_summary_reports_all_windows_and_undefined_as_none(setup: Setup) -> None:
    agg, _, _ = setup
    empty = agg.summary("nope")
    assert empty.pairs_total == 0 and empty.windows["5m"].quality["default.quality"].point is None
    for i in range(50):
        x = 0.5 + i * 0.03  # spread latencies: the guarded arm is 1.5x slower
        agg.observe(make(0.5, 0.5 + (0.2 if i % 2 else 0.0), latency=(1.5 * x, x)))
    s = agg.summary("chat")
    w = s.windows["1h"]
    q = w.quality["default.quality"]
    assert s.pairs_total == 50 and w.eligible == 50
    assert q.point == pytest.approx(0.1)
    assert q.ci is not None and q.ci.low < 0.1 < q.ci.high
    assert q.cs is not None and q.cs.low < q.ci.low
    assert q.loss == pytest.approx(0.5) and q.tie == pytest.approx(0.5)
    assert w.latency.p50_ratio == pytest.approx(1.5, rel=0.1)
    assert w.latency.p95_ratio == pytest.approx(1.5, rel=0.1)
    assert w.latency.median_delta_s == pytest.approx(0.5 * (0.5 + 24.5 * 0.03), rel=0.1)
    assert math.isclose(w.over_refusal.point or 0.0, 0.0)


def test_registering_twice_on_one_registry_is_refused() -> None:
    reg = CollectorRegistry()
    _registered(reg, TaxConfig(), clock=FakeClock())
    with pytest.raises(ValueError, match="Duplicated"):
        _registered(reg, TaxConfig(), clock=FakeClock())


def test_scrape_never_sees_a_pair_half_counted_while_observing() -> None:
    import threading

    reg = CollectorRegistry()
    agg = _registered(reg, TaxConfig(), clock=FakeClock())
    done = threading.Event()

    def feed() -> None:
        for i in range(3000):
            agg.observe(make(0.5, 0.5 + (i % 3) * 0.1, u_unsafe=(i % 7 == 0)))
        done.set()

    thread = threading.Thread(target=feed)
    thread.start()
    checks = 0
    while not done.is_set() or checks == 0:
        # One scrape: every sample comes from one snapshot taken under the lock.
        samples = {
            (smp.name, tuple(sorted(smp.labels.items()))): smp.value
            for fam in reg.collect()
            for smp in fam.samples
        }
        eligible = samples.get(("taxmeter_pairs_total", (("eligible", "true"), ("route", "chat"))))
        if eligible is None:
            continue
        compared = sum(
            samples[
                (
                    "taxmeter_quality_comparisons_total",
                    (("judge", "default.quality"), ("result", r), ("route", "chat")),
                )
            ]
            for r in ("win", "tie", "loss")
        )
        in_window = samples[
            ("taxmeter_window_eligible_pairs", (("route", "chat"), ("window", "5m")))
        ]
        assert compared == eligible == in_window
        checks += 1
    thread.join()
    assert reg.get_sample_value(
        "taxmeter_pairs_total", {"route": "chat", "eligible": "true"}
    ) == 3000 - len(range(0, 3000, 7))


def test_window_totals_stay_exact_after_many_rotations() -> None:
    import numpy as np
    from taxmeter.tax.windows import SlidingWindows

    w = SlidingWindows([60.0], slots=10, fields=1, now=0.0)
    idx = np.array([0])
    for step in range(1000):  # one value 0.1 every 3 s: 20 per 60 s window
        w.add(idx, np.array([0.1]), now=step * 3.0)
    (total,) = w.totals(now=999 * 3.0)
    # 9 closed slots [2940, 2994) hold 18 values, the current slot [2994, 3000) holds 2
    assert total[0] == pytest.approx(0.1 * 20, abs=1e-12)


def test_noise_p90_is_zero_when_every_repeat_differed_by_about_zero(setup: Setup) -> None:
    agg, reg, _ = setup
    for _ in range(20):  # seen exported as 0.045 (interpolated inside the first bucket)
        agg.observe(make(0.6, 0.8, repeat=(Arm.GUARDED, 0.6000001, False)))
    p90 = val(
        reg,
        "taxmeter_noise_quality_abs_delta",
        route="chat",
        judge="default.quality",
        arm="guarded",
        window="5m",
        stat="p90",
    )
    assert p90 is not None and p90 < 0.001


def test_noise_p90_follows_a_real_spread_of_abs_delta(setup: Setup) -> None:
    agg, reg, _ = setup
    for i in range(10):  # |Δq| = 0.0, 0.05, ..., 0.45: the p90 is near 0.4
        agg.observe(make(0.5, 0.8, repeat=(Arm.GUARDED, 0.5 + 0.05 * i, False)))
    p90 = val(
        reg,
        "taxmeter_noise_quality_abs_delta",
        route="chat",
        judge="default.quality",
        arm="guarded",
        window="5m",
        stat="p90",
    )
    assert p90 == pytest.approx(0.4, rel=0.2)


def test_the_tax_reports_its_part_without_refusals_beside_the_headline() -> None:
    """A refusal scored against a full answer is part of Δ; Δ over the pairs where both arms
    answered is exported beside it, so a reader does not count a refusal twice."""
    registry = CollectorRegistry()
    agg = _registered(
        registry, TaxConfig(windows=["5m"], min_pairs_for_bounds=2), clock=FakeClock()
    )
    for qg, qu in ((0.7, 0.8), (0.6, 0.8), (0.8, 0.8), (0.5, 0.8)):
        agg.observe(make(qg, qu))
    for _ in range(4):  # over-refusals: q 0.0 against 0.9
        agg.observe(make(0.0, 0.9, g_refusal=True))

    def val(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"route": "chat", "window": "5m", **labels})

    headline = val("taxmeter_alignment_tax", judge="default.quality", stat="point")
    answered = val("taxmeter_alignment_tax_answered", judge="default.quality", stat="point")
    assert headline == pytest.approx((0.1 + 0.2 + 0.0 + 0.3 + 4 * 0.9) / 8)
    assert answered == pytest.approx((0.1 + 0.2 + 0.0 + 0.3) / 4)
    assert val("taxmeter_answered_pairs") == 4
    low = val("taxmeter_alignment_tax_answered", judge="default.quality", stat="ci_low")
    high = val("taxmeter_alignment_tax_answered", judge="default.quality", stat="ci_high")
    assert answered is not None and low is not None and high is not None
    assert low < answered < high
