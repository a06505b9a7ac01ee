"""The dispatcher with real OpenAI-compatible clients against real servers on loopback."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from taxmeter.demo.config import DemoConfig
from taxmeter.demo.endpoints import SimulatedEndpoint, decide
from taxmeter.shadow.config import ShadowConfig
from taxmeter.shadow.endpoint import OpenAIEndpoint
from taxmeter.types import Arm, ArmOutcome, JobOutcome, ProductionAnswer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shadow_fixtures import FaultyEndpoint, Rig, chat_body, make_rig, mirror, shadow_config


@pytest.fixture
async def faulty() -> AsyncIterator[tuple[FaultyEndpoint, FaultyEndpoint]]:
    g, u = FaultyEndpoint(answer="guarded words"), FaultyEndpoint(answer="unguarded words")
    await g.start()
    await u.start()
    yield g, u
    await g.aclose()
    await u.aclose()


@pytest.fixture
async def simulated() -> AsyncIterator[tuple[SimulatedEndpoint, SimulatedEndpoint]]:
    demo = DemoConfig()
    g = SimulatedEndpoint("guarded", demo.routes, demo.seed, latency_scale=0.1)
    u = SimulatedEndpoint("unguarded", demo.routes, demo.seed, latency_scale=0.1)
    g.keep_bodies = u.keep_bodies = True
    await g.start()
    await u.start()
    yield g, u
    await g.aclose()
    await u.aclose()


class Wired:
    def __init__(self, config: ShadowConfig, environ: dict[str, str] | None = None) -> None:
        self.guarded = OpenAIEndpoint(Arm.GUARDED, config.guarded, environ=environ or {})
        self.unguarded = OpenAIEndpoint(Arm.UNGUARDED, config.unguarded, environ=environ or {})
        self.rig: Rig = make_rig(config, self.guarded, self.unguarded)

    async def __aenter__(self) -> Rig:
        await self.rig.dispatcher.start()
        return self.rig

    async def __aexit__(self, *exc: object) -> None:
        await self.rig.dispatcher.drain(2)
        await self.guarded.aclose()
        await self.unguarded.aclose()


async def run_one(config: ShadowConfig, body: dict[str, Any], **kw: Any) -> Rig:
    async with Wired(config) as rig:
        assert rig.submit(mirror(body, **kw))
        await rig.wait_idle()
    assert rig.identity_holds(kw.get("route", "chat"))
    return rig


async def test_job_reaches_both_simulated_endpoints_with_identical_messages_and_params(
    simulated: tuple[SimulatedEndpoint, SimulatedEndpoint],
) -> None:
    g, u = simulated
    body = chat_body(
        "How do I export all my data before closing my account?",
        metadata={"route": "support-chat", "nonce": "n1"},
        max_completion_tokens=128,
    )
    rig = await run_one(shadow_config(g.base_url, u.base_url), body, route="support-chat")
    [sent_g] = [json.loads(b) for b in g.bodies]
    [sent_u] = [json.loads(b) for b in u.bodies]
    assert sent_g == sent_u == body
    [pair] = rig.sink.pairs
    expected = decide(
        "guarded",
        DemoConfig().route("support-chat"),
        body["messages"][1]["content"],
        "n1",
        DemoConfig().seed,
    )
    assert pair.guarded.text == expected.text
    assert pair.unguarded.outcome is ArmOutcome.OK
    assert pair.unguarded.prompt_tokens is not None and pair.unguarded.prompt_tokens > 0
    assert rig.jobs("support-chat", JobOutcome.COMPLETED) == 1


async def test_streaming_records_ttft_and_usage_from_the_last_chunk(
    simulated: tuple[SimulatedEndpoint, SimulatedEndpoint],
) -> None:
    g, u = simulated
    body = chat_body(
        "What is a normal resting heart rate?",
        stream=True,
        metadata={"route": "health-info", "nonce": "n2"},
    )
    rig = await run_one(shadow_config(g.base_url, u.base_url), body, route="health-info")
    [pair] = rig.sink.pairs
    for result in (pair.guarded, pair.unguarded):
        if result.outcome is ArmOutcome.OK:
            assert result.ttft_s is not None and result.latency_s is not None
            assert 0 < result.ttft_s <= result.latency_s
            assert result.completion_tokens == round(len(result.text.split()) * 1.3)
    assert pair.unguarded.text.startswith("For adults it is usually between 60 and 100")
    assert (
        rig.value("taxmeter_shadow_ttft_seconds_count", arm="unguarded", route="health-info") == 1
    )
    sent = json.loads(u.bodies[0])
    assert sent["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("mode", "stream", "outcome", "reason"),
    [
        ("http_500", False, "error", "http_5xx"),
        ("bad_request_400", False, "error", "http_4xx"),
        ("hang", False, "timeout", "timeout"),
        ("malformed_json", False, "error", "malformed_json"),
        ("malformed_json", True, "error", "malformed_json"),
        ("truncated_stream", True, "error", "truncated_stream"),
        ("disconnect", True, "error", "truncated_stream"),
    ],
)
async def test_endpoint_failure_ends_in_its_counted_outcome(
    faulty: tuple[FaultyEndpoint, FaultyEndpoint],
    mode: str,
    stream: bool,
    outcome: str,
    reason: str,
) -> None:
    g, u = faulty
    g.mode = mode
    cfg = shadow_config(g.base_url, u.base_url, guarded={"timeout_s": 0.3})
    rig = await run_one(cfg, chat_body(stream=stream))
    snap = rig.ledger.snapshot()
    assert snap.jobs == {("chat", "failed"): 1}
    assert snap.incomplete == {("chat", "guarded", reason): 1}
    assert (
        rig.value("taxmeter_shadow_requests_total", arm="guarded", route="chat", outcome=outcome)
        == 1
    )
    assert (
        rig.value("taxmeter_shadow_requests_total", arm="unguarded", route="chat", outcome="ok")
        == 1
    )
    assert (
        rig.value("taxmeter_shadow_errors_total", arm="guarded", route="chat", reason=reason) == 1
    )
    assert rig.sink.pairs == []


@pytest.mark.parametrize(
    ("mode", "stream"),
    [
        ("filter_400", False),
        ("azure_filter_400", True),
        ("filter_finish", False),
        ("filter_finish", True),
    ],
)
async def test_content_filter_counts_as_guard_block_and_the_pair_completes(
    faulty: tuple[FaultyEndpoint, FaultyEndpoint], mode: str, stream: bool
) -> None:
    g, u = faulty
    g.mode = mode
    rig = await run_one(shadow_config(g.base_url, u.base_url), chat_body(stream=stream))
    [pair] = rig.sink.pairs
    assert pair.guarded.outcome is ArmOutcome.GUARD_BLOCK
    assert pair.guarded.finish_reason == "content_filter"
    assert pair.guarded.text == ""
    assert rig.jobs("chat", JobOutcome.COMPLETED) == 1
    assert (
        rig.value(
            "taxmeter_shadow_requests_total", arm="guarded", route="chat", outcome="guard_block"
        )
        == 1
    )
    assert (
        rig.value(
            "taxmeter_shadow_finish_reasons_total",
            arm="guarded",
            route="chat",
            reason="content_filter",
        )
        == 1
    )


async def test_tools_and_content_parts_reach_both_arms_byte_for_byte_apart_from_overrides(
    faulty: tuple[FaultyEndpoint, FaultyEndpoint],
) -> None:
    g, u = faulty
    raw = (
        b'{"model": "prod-model", "messages": [{"role": "user", "content": ['
        b'{"type": "text", "text": "Weather in Z\\u00fcrich?"},'
        b'{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}],'
        b' "tools": [{"type": "function", "function": {"name": "get_weather",'
        b' "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],'
        b' "tool_choice": "auto", "response_format": {"type": "text"},'
        b' "max_completion_tokens": 300, "x_vendor_field": {"keep": [1, 2.50, null]}}'
    )
    body = json.loads(raw)
    cfg = shadow_config(
        g.base_url,
        u.base_url,
        guarded={
            "model": "guard-model",
            "api_key_env": "GUARD_KEY",
            "headers": {"X-Team": "safety"},
            "strip": ["x_vendor_field"],
        },
    )
    wired = Wired(cfg, environ={"GUARD_KEY": "sk-guard"})
    async with wired as rig:
        rig.submit(mirror(body, raw=raw))
        await rig.wait_idle()
    [to_g], [to_u] = g.requests, u.requests
    assert to_u.body == raw
    sent_g = json.loads(to_g.body)
    expected = {k: v for k, v in body.items() if k != "x_vendor_field"}
    expected["model"] = "guard-model"
    assert sent_g == expected
    assert to_g.headers["Authorization"] == "Bearer sk-guard"
    assert to_g.headers["X-Team"] == "safety"
    assert "Authorization" not in to_u.headers
    assert "Cookie" not in to_u.headers and "Cookie" not in to_g.headers


async def test_production_answer_reuse_calls_only_the_unguarded_arm(
    faulty: tuple[FaultyEndpoint, FaultyEndpoint],
) -> None:
    g, u = faulty
    prod = ProductionAnswer(text="from production", arm=Arm.GUARDED, latency_s=1.2)
    rig = await run_one(shadow_config(g.base_url, u.base_url), chat_body(), production=prod)
    assert g.requests == [] and len(u.requests) == 1
    [pair] = rig.sink.pairs
    assert pair.guarded.reused_production and not pair.latency_comparable
    assert rig.value("taxmeter_shadow_latency_seconds_count", arm="guarded", route="chat") == 0
    assert rig.value("taxmeter_shadow_latency_seconds_count", arm="unguarded", route="chat") == 1


async def test_drain_counts_hanging_jobs_shed_shutdown_exactly_once(
    faulty: tuple[FaultyEndpoint, FaultyEndpoint],
) -> None:
    g, u = faulty
    g.mode = "hang"
    cfg = shadow_config(g.base_url, u.base_url, concurrency=2)
    wired = Wired(cfg)
    rig = wired.rig
    await rig.dispatcher.start()
    for i in range(5):
        rig.submit(mirror(chat_body(), request_id=f"r{i}"))
    while len(g.requests) < 2:
        await __import__("asyncio").sleep(0.01)
    await rig.dispatcher.drain(0.2)
    await wired.guarded.aclose()
    await wired.unguarded.aclose()
    snap = rig.ledger.snapshot()
    assert snap.jobs == {("chat", "shed"): 5}
    assert snap.shed == {("chat", "shutdown"): 5}
    assert rig.identity_holds("chat")
    assert rig.ledger.open_jobs() == 0


async def test_every_job_ends_in_exactly_one_outcome_over_a_mixed_run(
    simulated: tuple[SimulatedEndpoint, SimulatedEndpoint],
) -> None:
    from taxmeter.demo.traffic import TrafficPlan

    g, u = simulated
    demo = DemoConfig(stream_share=0.5)
    plan = TrafficPlan(demo)
    cfg = shadow_config(g.base_url, u.base_url, queue_size=16, concurrency=4)
    sampled = 0
    async with Wired(cfg) as rig:
        for _ in range(60):
            p = plan.next()
            if rig.submit(mirror(p.body(demo.seed), route=p.route.name)):
                sampled += 1
        await rig.wait_idle(20)
    snap = rig.ledger.snapshot()
    for route in snap.routes():
        assert rig.identity_holds(route)
    ended = sum(snap.jobs.values())
    assert ended == sampled
    assert (
        sum(v for (_, o), v in snap.requests.items() if o == "dropped_queue_full") == 60 - sampled
    )
    assert g.stats()["requests"] == u.stats()["requests"] == sampled
    completed = sum(v for (_, o), v in snap.jobs.items() if o == "completed")
    assert completed == len(rig.sink.pairs) == sampled  # simulated endpoints never fail


async def test_a_key_file_rotated_while_running_reaches_the_next_call_without_a_restart(
    faulty: tuple[FaultyEndpoint, FaultyEndpoint],
    tmp_path: Path,
) -> None:
    """Kubernetes rotates a mounted secret by replacing the file: the next request carries the
    new key (issue 12 item 4); a key file emptied mid-rotation keeps the last good key."""
    import os

    g, u = faulty
    key = tmp_path / "guard.key"
    key.write_text("sk-old\n", encoding="utf-8")
    cfg = shadow_config(g.base_url, u.base_url, guarded={"api_key_file": str(key)})
    wired = Wired(cfg)
    async with wired as rig:
        rig.submit(mirror(chat_body(), request_id="a"))
        await rig.wait_idle()
        new = tmp_path / "guard.key.new"
        new.write_text("sk-new\n", encoding="utf-8")
        os.utime(new, (1, 1))  # a different stamp even on a coarse-clock filesystem
        new.replace(key)
        rig.submit(mirror(chat_body(), request_id="b"))
        await rig.wait_idle()
        key.write_text("", encoding="utf-8")
        rig.submit(mirror(chat_body(), request_id="c"))
        await rig.wait_idle()
    assert [r.headers["Authorization"] for r in g.requests] == [
        "Bearer sk-old",
        "Bearer sk-new",
        "Bearer sk-new",
    ]
