"""taxmeter.client against a real gRPC ingress on loopback, and against a sidecar that is down."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from taxmeter.client import AsyncMirrorClient, MirrorClient, ProductionInfo
from taxmeter.ingress import GrpcIngress, IngressConfig, RouteNormalizer
from taxmeter.types import Arm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ingress_fixtures import RecordingIntake

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_sidecar(port: int = 0) -> tuple[GrpcIngress, RecordingIntake, int]:
    intake = RecordingIntake()
    ingress = GrpcIngress(
        IngressConfig(host="127.0.0.1", grpc_port=port),
        intake,
        RouteNormalizer(frozenset({"chat"})),
    )
    return ingress, intake, await ingress.start()


@pytest.fixture
async def sidecar() -> AsyncIterator[tuple[RecordingIntake, int]]:
    ingress, intake, port = await start_sidecar()
    yield intake, port
    await ingress.stop(0.5)


async def test_mirrors_arrive_in_batches_with_body_route_and_production(
    sidecar: tuple[RecordingIntake, int],
) -> None:
    intake, port = sidecar
    client = AsyncMirrorClient(f"127.0.0.1:{port}", batch_max=100, flush_interval_s=0.01)
    for i in range(250):
        client.mirror(BODY, route="chat", request_id=f"r{i}", category="qa")
    client.mirror(
        BODY,
        route="chat",
        request_id="p",
        production=ProductionInfo(text="Hello!", arm="guarded", latency_s=0.8),
    )
    assert await client.flush(10)
    await client.aclose()
    stats = client.stats()
    assert (stats.sent, stats.dropped_buffer_full, stats.dropped_send_error, stats.buffered) == (
        251,
        0,
        0,
        0,
    )
    assert [r.request_id for r in intake.submitted] == [f"r{i}" for i in range(250)] + ["p"]
    first = intake.submitted[0]
    assert json.loads(first.raw_body) == BODY and first.route == "chat"
    last = intake.submitted[-1]
    assert last.production is not None
    assert (last.production.text, last.production.arm, last.production.latency_s) == (
        "Hello!",
        Arm.GUARDED,
        0.8,
    )


async def test_sidecar_rejections_are_counted_and_bad_bodies_never_raise(
    sidecar: tuple[RecordingIntake, int],
) -> None:
    intake, port = sidecar
    async with AsyncMirrorClient(f"127.0.0.1:{port}", flush_interval_s=0.001) as client:
        client.mirror(b"not json", route="chat")
        client.mirror({"messages": [{"role": "user", "content": object()}]}, route="chat")
        client.mirror(BODY, route="chat")
        assert await client.flush(10)
        stats = client.stats()
    assert (stats.sent, stats.rejected, stats.dropped_invalid) == (2, 1, 1)
    assert len(intake.submitted) == 1 and len(intake.rejected) == 1


async def test_sidecar_down_never_blocks_or_raises_and_counts_every_drop() -> None:
    port = free_port()  # nothing listens here
    client = AsyncMirrorClient(
        f"127.0.0.1:{port}",
        buffer_size=50,
        batch_max=10,
        flush_interval_s=0.001,
        send_timeout_s=1.0,
        backoff_initial_s=0.02,
        backoff_max_s=0.05,
    )
    for _ in range(2000):
        client.mirror(BODY, route="chat")  # returns at once: a sync call, no await
    stats = client.stats()
    assert stats.dropped_buffer_full == 1950 and stats.buffered == 50
    await asyncio.sleep(0.3)  # the sender tries, fails, backs off
    await client.aclose(timeout_s=2.0)
    stats = client.stats()
    assert stats.sent == 0
    assert stats.dropped_send_error > 0
    assert stats.dropped_buffer_full + stats.dropped_send_error == 2000
    assert stats.buffered == 0
    client.mirror(BODY, route="chat")  # after close: dropped, not raised
    assert client.stats().dropped_buffer_full == 1951


async def test_client_reconnects_when_the_sidecar_comes_up() -> None:
    port = free_port()
    client = AsyncMirrorClient(
        f"127.0.0.1:{port}",
        batch_max=5,
        flush_interval_s=0.001,
        send_timeout_s=1.0,
        backoff_initial_s=0.02,
        backoff_max_s=0.1,
    )
    for _ in range(5):
        client.mirror(BODY, route="chat")
    assert await client.flush(5)
    assert client.stats().dropped_send_error == 5
    ingress, intake, _ = await start_sidecar(port)
    try:
        delivered, mirrored = 0, 5
        for _ in range(100):  # the channel reconnects with its own backoff; retry a few sends
            client.mirror(BODY, route="chat")
            mirrored += 1
            await client.flush(5)
            delivered = client.stats().sent
            if delivered:
                break
            await asyncio.sleep(0.05)
        assert delivered >= 1
        assert len(intake.submitted) == delivered
        s = client.stats()
        assert s.sent + s.dropped_send_error == mirrored  # every mirror accounted for
    finally:
        await client.aclose()
        await ingress.stop(0.5)


async def test_sync_client_mirrors_from_several_threads(
    sidecar: tuple[RecordingIntake, int],
) -> None:
    intake, port = sidecar

    def app() -> MirrorClient:
        client = MirrorClient(f"127.0.0.1:{port}", flush_interval_s=0.005)

        def send(t: int) -> None:
            for i in range(50):
                client.mirror(BODY, route="chat", request_id=f"{t}-{i}")

        threads = [threading.Thread(target=send, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert client.flush(10)
        client.close()
        return client

    client = await asyncio.to_thread(app)
    assert client.stats().sent == 200
    assert sorted(r.request_id for r in intake.submitted) == sorted(
        f"{t}-{i}" for t in range(4) for i in range(50)
    )


def test_sync_client_with_sidecar_down_never_raises() -> None:
    with MirrorClient(
        f"127.0.0.1:{free_port()}",
        buffer_size=10,
        send_timeout_s=0.5,
        backoff_initial_s=0.01,
        backoff_max_s=0.02,
    ) as client:
        for _ in range(100):
            client.mirror(BODY, route="chat")
    stats = client.stats()
    assert stats.sent == 0
    assert stats.dropped_buffer_full + stats.dropped_send_error == 100
    assert stats.dropped_buffer_full >= 90
