""" "Address already in use" at startup names the port and the configuration field, for each of
the three listeners (real sockets on loopback)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from ingress_fixtures import RecordingIntake
from prometheus_client import CollectorRegistry
from taxmeter.ingress import GrpcIngress, HttpSink, IngressConfig, RouteNormalizer
from taxmeter.telemetry.server import MetricsServer


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield int(busy.getsockname()[1])


def _normalizer() -> RouteNormalizer:
    return RouteNormalizer(frozenset({"chat"}), frozenset())


async def test_http_sink_port_in_use_names_port_and_field(busy_port: int) -> None:
    cfg = IngressConfig(host="127.0.0.1", http_port=busy_port)
    sink = HttpSink(cfg, RecordingIntake(), _normalizer())
    with pytest.raises(OSError) as err:
        await sink.start()
    assert f"127.0.0.1:{busy_port}" in str(err.value)
    assert "ingress.http_port" in str(err.value)
    assert "in use" in str(err.value)


async def test_grpc_port_in_use_names_port_and_field(busy_port: int) -> None:
    cfg = IngressConfig(host="127.0.0.1", grpc_port=busy_port)
    ingress = GrpcIngress(cfg, RecordingIntake(), _normalizer())
    with pytest.raises(OSError) as err:
        await ingress.start()
    assert f"127.0.0.1:{busy_port}" in str(err.value)
    assert "ingress.grpc_port" in str(err.value)


def test_metrics_port_in_use_names_port_and_field(busy_port: int) -> None:
    server = MetricsServer(CollectorRegistry(), "127.0.0.1", busy_port)
    with pytest.raises(OSError) as err:
        server.start()
    assert f"127.0.0.1:{busy_port}" in str(err.value)
    assert "telemetry.metrics_port" in str(err.value)
    assert "in use" in str(err.value)
