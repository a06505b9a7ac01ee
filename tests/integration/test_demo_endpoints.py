"""Simulated endpoints and the traffic generator on loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import grpc
import pytest
from taxmeter.demo.config import DemoConfig
from taxmeter.demo.endpoints import SimulatedEndpoint, decide
from taxmeter.demo.prompts import HARMFUL
from taxmeter.demo.traffic import TrafficGenerator
from taxmeter.proto.taxmeter.v1 import mirror_pb2, mirror_pb2_grpc

DEMO = DemoConfig(latency_scale=0.05)


@pytest.fixture
async def guarded() -> AsyncIterator[SimulatedEndpoint]:
    ep = SimulatedEndpoint("guarded", DEMO.routes, DEMO.seed, latency_scale=0.05)
    await ep.start()
    yield ep
    await ep.aclose()


async def _post(url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/chat/completions", json=body) as resp,
    ):
        return resp.status, await resp.read()


async def test_harmful_prompt_is_sometimes_blocked_with_a_content_filter_400(
    guarded: SimulatedEndpoint,
) -> None:
    statuses = []
    for i in range(20):
        body = {
            "messages": [{"role": "user", "content": HARMFUL[0].text}],
            "metadata": {"route": "support-chat", "nonce": str(i)},
        }
        expected = decide("guarded", DEMO.route("support-chat"), HARMFUL[0].text, str(i), DEMO.seed)
        status, raw = await _post(guarded.base_url, body)
        statuses.append(status)
        if expected.kind == "filter_block":
            assert status == 400
            assert json.loads(raw)["error"]["code"] == "content_filter"
        else:
            assert status == 200
            choice = json.loads(raw)["choices"][0]
            assert choice["message"]["content"] == expected.text
            assert choice["finish_reason"] == expected.finish_reason
    assert 400 in statuses and 200 in statuses
    assert guarded.stats()["by_route"] == {"support-chat": 20}


async def test_streaming_answer_ends_with_usage_chunk_then_done(guarded: SimulatedEndpoint) -> None:
    prompt = "How long does a cold usually last?"
    body = {
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "metadata": {"route": "health-info", "nonce": "s"},
    }
    status, raw = await _post(guarded.base_url, body)
    assert status == 200
    events = [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    usage_chunk = json.loads(events[-2])
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["completion_tokens"] >= 0
    text = "".join(
        json.loads(e)["choices"][0]["delta"].get("content", "")
        for e in events[:-2]
        if json.loads(e)["choices"]
    )
    expected = decide("guarded", DEMO.route("health-info"), prompt, "s", DEMO.seed)
    assert text == expected.text


class _RecordingMirror(mirror_pb2_grpc.MirrorServiceServicer):
    def __init__(self) -> None:
        self.requests: list[Any] = []

    async def Mirror(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return mirror_pb2.MirrorAck(
            request_id=request.request_id.decode(),
            sampled=True,
            decision=mirror_pb2.MirrorAck.SAMPLED,
        )


async def test_traffic_generator_sends_mirror_requests_over_the_configured_routes() -> None:
    servicer = _RecordingMirror()
    server = grpc.aio.server()
    # the generated *_pb2_grpc module has no annotations
    mirror_pb2_grpc.add_MirrorServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    config = DemoConfig(rate_per_s=400, seed=5)
    gen = TrafficGenerator(f"127.0.0.1:{port}", config)
    try:
        await gen.run(count=80)
    finally:
        await gen.aclose()
        await server.stop(None)
    stats = gen.stats()
    assert stats.sent == stats.acked == stats.sampled == 80 and stats.errors == 0
    assert len(servicer.requests) == 80
    routes = {r.route.decode() for r in servicer.requests}
    assert routes == {r.name for r in config.routes}
    assert sum(stats.by_route.values()) == 80
    for r in servicer.requests:
        body = json.loads(r.body)
        assert body["metadata"]["route"] == r.route.decode()
        assert body["messages"][-1]["role"] == "user"
        route = config.route(r.route.decode())
        assert route is not None
        assert r.category.decode() == (route.category or "")
    streamed = sum(json.loads(r.body)["stream"] for r in servicer.requests)
    assert 0 < streamed < 80
