"""Fair latency and one token source per pair (issue 16), with fake endpoints.

A job takes a slot on both arms before sending either call; a pair whose arm had more of
taxmeter's own calls in flight than its ``comparable_in_flight`` bound is judged but kept out of
the latency comparison (counted); the tax aggregator adds token counts only when both arms'
counts come from one source, and says how many pairs each ratio rests on.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry
from taxmeter.tax import TaxAggregator, TaxConfig
from taxmeter.tax.collector import TaxCollector
from taxmeter.types import Arm, ArmOutcome, ArmResult, HeadScore, ScoredPair, ShadowPair

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shadow_fixtures import FakeEndpoint, chat_body, make_rig, mirror, shadow_config


async def until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_a_job_takes_a_slot_on_both_arms_before_sending_either_call() -> None:
    gate = asyncio.Event()
    g, u = FakeEndpoint(Arm.GUARDED, gate=gate), FakeEndpoint(Arm.UNGUARDED)
    cfg = shadow_config(concurrency=2, guarded={"max_in_flight": 1})
    rig = make_rig(cfg, g, u)
    await rig.dispatcher.start()
    assert rig.submit(mirror(chat_body(), request_id="a"))
    assert rig.submit(mirror(chat_body(), request_id="b"))
    await until(lambda: len(g.calls) == 1 and len(u.calls) == 1)
    await asyncio.sleep(0.05)  # job b is taken by the second worker and waits for a slot
    assert rig.dispatcher.statistics().in_flight == 2
    assert (len(g.calls), len(u.calls)) == (1, 1)  # b sent nothing: not even the free arm
    assert rig.value("taxmeter_shadow_in_flight", arm="guarded") == 1
    gate.set()
    await rig.wait_idle()
    assert (len(g.calls), len(u.calls)) == (2, 2)
    assert len(rig.sink.pairs) == 2
    assert rig.value("taxmeter_shadow_in_flight", arm="guarded") == 0
    await rig.dispatcher.drain(1)


async def test_pairs_over_the_comparable_bound_are_judged_but_not_latency_comparable() -> None:
    gate = asyncio.Event()
    g, u = FakeEndpoint(Arm.GUARDED, gate=gate), FakeEndpoint(Arm.UNGUARDED, gate=gate)
    cfg = shadow_config(concurrency=3, unguarded={"comparable_in_flight": 1})
    rig = make_rig(cfg, g, u)
    await rig.dispatcher.start()
    for i in range(3):
        assert rig.submit(mirror(chat_body(), request_id=f"r{i}"))
    await until(lambda: len(u.calls) == 3)
    assert rig.value("taxmeter_shadow_in_flight", arm="unguarded") == 3
    gate.set()
    await rig.wait_idle()
    assert len(rig.sink.pairs) == 3
    assert all(
        p.latency_excluded == "saturated" and not p.latency_comparable for p in rig.sink.pairs
    )
    assert (
        rig.value("taxmeter_shadow_latency_excluded_pairs_total", route="chat", reason="saturated")
        == 3
    )
    assert rig.submit(mirror(chat_body(), request_id="alone"))  # one at a time: comparable
    await rig.wait_idle()
    assert rig.sink.pairs[-1].latency_comparable
    assert (
        rig.value("taxmeter_shadow_latency_excluded_pairs_total", route="chat", reason="saturated")
        == 3
    )
    await rig.dispatcher.drain(1)


class _Clock:
    def monotonic(self) -> float:
        return 1000.0


def _scored(
    tokens: tuple[int, int], sources: tuple[str | None, str | None], excluded: str | None = None
) -> ScoredPair:
    s = {
        "default.quality": HeadScore(0.5, True),
        "default.refusal": HeadScore(0.0, False),
        "default.unsafe": HeadScore(0.0, False),
    }
    g = ArmResult(
        Arm.GUARDED,
        ArmOutcome.OK,
        latency_s=1.0,
        completion_tokens=tokens[0],
        tokens_source=sources[0],
    )
    u = ArmResult(
        Arm.UNGUARDED,
        ArmOutcome.OK,
        latency_s=1.0,
        completion_tokens=tokens[1],
        tokens_source=sources[1],
    )
    return ScoredPair(ShadowPair("r", "chat", None, "p", g, u, latency_excluded=excluded), s, s)


def test_token_overhead_adds_one_source_per_pair_and_says_what_ratios_rest_on() -> None:
    reg = CollectorRegistry()
    agg = TaxAggregator(TaxConfig(), clock=_Clock())
    reg.register(TaxCollector(agg))
    agg.observe(_scored((20, 10), ("server", "server")))
    agg.observe(_scored((30, 10), ("tokenizer", "tokenizer")))
    agg.observe(_scored((500, 1), ("server", "tokenizer")))  # mixed: never added
    agg.observe(_scored((500, 1), ("server", "server"), excluded="saturated"))

    def val(name: str, **labels: str) -> float | None:
        return reg.get_sample_value(name, labels)

    assert val("taxmeter_token_pairs_total", route="chat", source="server") == 1
    assert val("taxmeter_token_pairs_total", route="chat", source="tokenizer") == 1
    assert val("taxmeter_output_tokens_total", route="chat", arm="guarded") == 50
    assert val("taxmeter_token_overhead_ratio", route="chat", window="5m") == 2.5
    assert val("taxmeter_latency_comparable_pairs_total", route="chat") == 3
    assert val("taxmeter_overhead_ratio_pairs", route="chat", window="5m", ratio="latency") == 3
    assert val("taxmeter_overhead_ratio_pairs", route="chat", window="5m", ratio="tokens") == 2
