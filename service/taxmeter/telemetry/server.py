"""The Prometheus endpoint on its own port, reading the registry passed in."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry


class MetricsServer:
    """``/metrics`` served from a daemon thread, so a busy event loop never delays a scrape."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        try:
            server, thread = start_http_server(self._port, addr=self._host, registry=self._registry)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot bind the metrics endpoint on {self._host}:{self._port} "
                f"(telemetry.metrics_port: {exc.strerror or exc})",
            ) from exc
        self._server, self._thread = server, thread
        return int(server.server_port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def build_info_family(version: str, judge_provider: str) -> GaugeMetricFamily:
    g = GaugeMetricFamily(
        "taxmeter_build_info",
        "Always 1: the running version and the judges' active provider (cpu, cuda, remote).",
        labels=["version", "judge_provider"],
    )
    g.add_metric([version, judge_provider], 1.0)
    return g
