"""The whole sidecar on loopback: mirrors over both transports, the exact accounting on
/metrics, and the documented metric names.

One run of traffic (module fixture) feeds every test here: 60 gRPC unary mirrors, a 40-item
MirrorStream, 50 HTTP sink posts, and invalid requests of each kind, at sample rate 0.5,
against two recording endpoints (the guarded one fails some prompts and blocks others).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import pytest
from app_fixtures import (
    BLOCK_MARKER,
    FAIL_MARKER,
    Exposition,
    ScriptedEndpoint,
    SenderTally,
    app_document,
    chat_body,
    mirror_message,
    scrape,
    send_grpc_stream,
    send_grpc_unary,
    send_http,
    tiny_judges,
)
from prometheus_client import CollectorRegistry
from taxmeter.app import App
from taxmeter.config import config_from_dict
from taxmeter.proto.taxmeter.v1 import mirror_pb2, mirror_pb2_grpc
from taxmeter.sampling.sampler import sample_point

SALT = "app-tests"
RATE = 0.5
SECRET = "zebra-unicorn-4711"  # in every prompt; must never reach /metrics
ROUTES = ("chat", "search", "unlisted-route")  # the last one is exported as `other`

N_UNARY, N_STREAM, N_HTTP = 60, 40, 50
N_UNARY_BAD, N_STREAM_BAD, N_HTTP_BAD = 5, 4, 6


@dataclass
class Run:
    tally: SenderTally
    expected_sampled: int
    metrics: Exposition
    guarded_calls: int
    unguarded_calls: int
    guarded_streamed: int


def _prompt(i: int) -> str:
    extra = ""
    if i % 9 == 4:
        extra = f" {FAIL_MARKER}"
    elif i % 7 == 3:
        extra = f" {BLOCK_MARKER}"
    return f"Question {i} about {SECRET}: how do mutexes work?{extra}"


def _will_sample(request_id: str, force: bool) -> bool:
    return force or sample_point(SALT, request_id) < RATE


async def _drive(tmp: Path) -> Run:
    guarded = ScriptedEndpoint(latency_s=0.01, fail_marked=True, block_marked=True)
    unguarded = ScriptedEndpoint(latency_s=0.005)
    await guarded.start()
    await unguarded.start()
    doc = app_document(
        guarded.base_url,
        unguarded.base_url,
        tiny_judges(tmp),
        sampling={"rate": RATE, "salt": SALT},
        shadow={"noise_floor_rate": 0.25},
    )
    app = App(config_from_dict(doc), env={}, registry=CollectorRegistry())
    ports = await app.start()
    try:
        await app.engine.wait_ready(60)
        tally = SenderTally()
        expected = 0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports.grpc}") as channel:
            stub = mirror_pb2_grpc.MirrorServiceStub(channel)  # type: ignore[no-untyped-call]
            for i in range(N_UNARY):
                rid, force = f"u-{i}", i % 20 == 0
                expected += _will_sample(rid, force)
                body = chat_body(_prompt(i), stream=i % 3 == 0)
                await send_grpc_unary(
                    stub,
                    tally,
                    mirror_message(rid, ROUTES[i % 3], body, force_sample=force),
                )
            for i in range(N_UNARY_BAD):
                await send_grpc_unary(stub, tally, mirror_message(f"ub-{i}", "chat", b"{not json"))
            items: list[mirror_pb2.MirrorRequest | bytes] = []
            for i in range(N_STREAM):
                rid = f"s-{i}"
                expected += _will_sample(rid, False)
                items.append(mirror_message(rid, ROUTES[i % 3], chat_body(_prompt(100 + i))))
                if i % 10 == 5:  # invalid items in the middle of the stream
                    items.append(b"\xff\xff\xff not a protobuf message")
            assert len(items) == N_STREAM + N_STREAM_BAD
            summary = await send_grpc_stream(channel, tally, items)
            assert summary.received == N_STREAM + N_STREAM_BAD
            assert summary.rejected == N_STREAM_BAD
            assert len(summary.errors) == N_STREAM_BAD
        async with aiohttp.ClientSession() as session:
            for i in range(N_HTTP):
                rid, force = f"h-{i}", i % 25 == 0
                expected += _will_sample(rid, force)
                await send_http(
                    session,
                    ports.http,
                    tally,
                    chat_body(_prompt(200 + i), stream=i % 4 == 0),
                    route=ROUTES[i % 3],
                    request_id=rid,
                    force_sample=force,
                )
            for i in range(N_HTTP_BAD):
                bad = b"not json at all" if i % 2 else json.dumps({"model": "m"}).encode()
                await send_http(session, ports.http, tally, bad, route="chat", request_id=f"hb-{i}")
        async with asyncio.timeout(30):
            while app.ledger.open_jobs():  # noqa: ASYNC110 (no wake-up event to wait on)
                await asyncio.sleep(0.02)
        metrics = await scrape(ports.metrics)
    finally:
        await app.stop()
        await guarded.aclose()
        await unguarded.aclose()
    return Run(tally, expected, metrics, guarded.count, unguarded.count, guarded.streamed)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return asyncio.run(_drive(tmp_path_factory.mktemp("app")))


# -- accounting ------------------------------------------------------------------------------


def test_received_per_transport_equals_what_the_sender_sent(run: Run) -> None:
    m = run.metrics
    assert run.tally.sent == {
        "grpc": N_UNARY + N_UNARY_BAD + N_STREAM + N_STREAM_BAD,
        "http": N_HTTP + N_HTTP_BAD,
    }
    for transport, sent in run.tally.sent.items():
        assert m.total("taxmeter_mirror_received_total", transport=transport) == sent


def test_every_received_mirror_has_exactly_one_outcome(run: Run) -> None:
    m = run.metrics
    received = m.total("taxmeter_mirror_received_total")
    assert received == sum(run.tally.sent.values())
    assert m.total("taxmeter_mirror_requests_total") == received


def test_rejected_equals_the_invalid_requests_sent(run: Run) -> None:
    invalid = N_UNARY_BAD + N_STREAM_BAD + N_HTTP_BAD
    assert run.tally.rejected == invalid
    assert run.metrics.total("taxmeter_mirror_requests_total", outcome="rejected") == invalid


def test_acked_sampled_equals_sampled_counter_and_the_hash_decision(run: Run) -> None:
    m = run.metrics
    sampled = m.total("taxmeter_mirror_requests_total", outcome="sampled")
    assert run.tally.sampled == sampled
    # budget and queue were large and adaptive sampling off: the hash decides alone
    assert sampled == run.expected_sampled
    assert m.total("taxmeter_mirror_requests_total", outcome="not_sampled") == (
        N_UNARY + N_STREAM + N_HTTP - run.expected_sampled
    )
    assert 0 < sampled < N_UNARY + N_STREAM + N_HTTP


def test_unlisted_route_is_exported_as_other(run: Run) -> None:
    routes = run.metrics.label_values("taxmeter_mirror_requests_total", "route")
    assert {"chat", "search", "other"} <= routes
    assert "unlisted-route" not in routes


def test_every_sampled_job_ended_in_one_counted_outcome_per_route(run: Run) -> None:
    m = run.metrics
    routes = m.label_values("taxmeter_mirror_requests_total", "route")
    for route in routes:
        sampled = m.total("taxmeter_mirror_requests_total", route=route, outcome="sampled")
        ended = sum(
            m.total("taxmeter_shadow_jobs_total", route=route, outcome=o)
            for o in ("completed", "failed", "shed")
        )
        open_ = sum(
            m.total("taxmeter_shadow_jobs_open", route=route, state=s)
            for s in ("queued", "in_flight")
        )
        assert open_ == 0, route
        assert sampled == ended + open_, route
    assert m.total("taxmeter_shadow_jobs_total", outcome="completed") > 0
    assert m.total("taxmeter_shadow_jobs_total", outcome="shed") == 0  # judges were warm


def test_failed_jobs_are_the_incomplete_pairs(run: Run) -> None:
    m = run.metrics
    failed = m.total("taxmeter_shadow_jobs_total", outcome="failed")
    assert failed > 0  # the guarded endpoint failed the marked prompts
    assert m.total("taxmeter_pairs_incomplete_total", arm="guarded") == failed
    assert m.total("taxmeter_pairs_incomplete_total", arm="unguarded") == 0


def test_each_endpoint_got_exactly_the_calls_counted_for_its_arm(run: Run) -> None:
    m = run.metrics
    sampled = m.total("taxmeter_mirror_requests_total", outcome="sampled")
    g = m.total("taxmeter_shadow_requests_total", arm="guarded")
    u = m.total("taxmeter_shadow_requests_total", arm="unguarded")
    assert run.guarded_calls == g
    assert run.unguarded_calls == u
    # each sampled job calls both arms once, plus noise-floor repeats (rate 0.25)
    assert g >= sampled and u >= sampled
    assert g + u > 2 * sampled
    assert run.guarded_streamed > 0


def test_guard_block_counts_as_refusal_not_error(run: Run) -> None:
    m = run.metrics
    blocks = m.total("taxmeter_shadow_requests_total", arm="guarded", outcome="guard_block")
    assert blocks > 0
    errors = m.total("taxmeter_shadow_requests_total", arm="guarded", outcome="error")
    incomplete = m.total("taxmeter_pairs_incomplete_total", arm="guarded")
    # noise-floor repeats of a failing prompt are error calls too, never incomplete pairs
    assert errors >= incomplete > 0
    reasons = m.label_values("taxmeter_pairs_incomplete_total", "reason")
    assert "guard_block" not in reasons and "content_filter" not in reasons
    assert m.total("taxmeter_refusals_total", arm="guarded") >= 1


def test_pairs_total_equals_completed_jobs(run: Run) -> None:
    m = run.metrics
    assert m.total("taxmeter_pairs_total") == m.total(
        "taxmeter_shadow_jobs_total", outcome="completed"
    )


# -- /metrics names --------------------------------------------------------------------------

DOCUMENTED = (
    "taxmeter_mirror_received_total",
    "taxmeter_mirror_requests_total",
    "taxmeter_shadow_jobs_total",
    "taxmeter_shadow_jobs_open",
    "taxmeter_shadow_requests_total",
    "taxmeter_shadow_latency_seconds_bucket",
    "taxmeter_shadow_ttft_seconds_bucket",
    "taxmeter_pairs_total",
    "taxmeter_pairs_incomplete_total",
    "taxmeter_quality_score_sum",
    "taxmeter_quality_delta_squares_sum",
    "taxmeter_refusals_total",
    "taxmeter_over_refusals_total",
    "taxmeter_safety_benefits_total",
    "taxmeter_latency_delta_seconds_bucket",
    "taxmeter_alignment_tax",
    "taxmeter_over_refusal_ratio",
    "taxmeter_latency_overhead_ratio",
    "taxmeter_shadow_in_flight",
    "taxmeter_shadow_token_counts_total",
    "taxmeter_token_pairs_total",
    "taxmeter_overhead_ratio_pairs",
    "taxmeter_effective_sample_ratio",
    "taxmeter_judge_inference_seconds_bucket",
    "taxmeter_judge_batch_size_bucket",
    "taxmeter_judge_provider_info",
    "taxmeter_build_info",
)


@pytest.mark.parametrize("name", DOCUMENTED)
def test_documented_metric_is_exposed_after_traffic(run: Run, name: str) -> None:
    names = {s.name for s in run.metrics.samples}
    assert name in names


def test_exposition_has_no_created_series(run: Run) -> None:
    created = sorted({s.name for s in run.metrics.samples if s.name.endswith("_created")})
    assert created == []


def test_exposition_has_no_nan_values(run: Run) -> None:
    assert run.metrics.has_nan() == []


def test_exposition_never_contains_prompt_text_or_credentials(run: Run) -> None:
    text = run.metrics.text
    for needle in (SECRET, "mutexes", FAIL_MARKER, BLOCK_MARKER, "production-secret", "u-1"):
        assert needle not in text


def test_every_taxmeter_family_uses_the_prefix_and_counters_end_in_total(run: Run) -> None:
    families = {
        n: k
        for n, k in run.metrics.families.items()
        if not n.startswith(("python_", "process_", "platform_"))
    }
    assert families and all(n.startswith("taxmeter_") for n in families), sorted(families)
    for s in run.metrics.samples:
        family = s.name.removesuffix("_total")
        if families.get(family) == "counter":
            assert s.name == f"{family}_total", s.name
    counters = [n for n, k in families.items() if k == "counter"]
    assert "taxmeter_mirror_requests" in counters and "taxmeter_shadow_requests" in counters


def test_judge_provider_reports_cpu(run: Run) -> None:
    m = run.metrics
    assert m.label_values("taxmeter_judge_provider_info", "active") == {"cpu"}
    assert m.label_values("taxmeter_build_info", "judge_provider") == {"cpu"}
