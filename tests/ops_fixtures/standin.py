"""A stand-in exporter serving taxmeter's metric names with simulated pair counters.

Used to exercise the Prometheus/Alertmanager harness and the dashboard queries independently
of the real sidecar (the end-to-end test itself runs ``taxmeter demo``). Each route has a fixed
true quality tax; pairs arrive at ``pairs_per_s`` per route.

The ``*_sum`` pair sums are monotone but exported without a ``_total`` suffix (the pinned names),
so they are gauges here: a prometheus_client Counter would append ``_total``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

ROUTE = ["route"]
JUDGE = "default.quality"


@dataclass(frozen=True)
class StandinRoute:
    name: str
    mean_tax: float
    over_refusal_share: float


class StandinExporter:
    def __init__(self, routes: list[StandinRoute], *, pairs_per_s: float, seed: int = 1) -> None:
        self._routes = routes
        self._period_s = 1.0 / pairs_per_s
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._means: dict[str, tuple[int, float, int, float]] = {}
        r = self.registry = CollectorRegistry()
        self.pairs = Counter("taxmeter_pairs", "", ["route", "eligible"], registry=r)
        self.q = Gauge("taxmeter_quality_score_sum", "", ["route", "judge", "arm"], registry=r)
        self.d2 = Gauge("taxmeter_quality_delta_squares_sum", "", ["route", "judge"], registry=r)
        self.vp = Gauge(
            "taxmeter_quality_delta_variance_process_sum", "", ["route", "judge"], registry=r
        )
        self.orf = Counter("taxmeter_over_refusals", "", ROUTE, registry=r)
        self.orv = Gauge("taxmeter_over_refusal_variance_process_sum", "", ROUTE, registry=r)
        self.sb = Counter("taxmeter_safety_benefits", "", ROUTE, registry=r)
        self.mirrors = Counter("taxmeter_mirror_requests", "", ["route", "outcome"], registry=r)
        self.jobs = Counter("taxmeter_shadow_jobs", "", ["route", "outcome"], registry=r)
        self.open = Gauge("taxmeter_shadow_jobs_open", "", ["route", "state"], registry=r)
        self.calls = Counter(
            "taxmeter_shadow_requests", "", ["arm", "route", "outcome"], registry=r
        )
        self.lat = Histogram("taxmeter_shadow_latency_seconds", "", ["arm", "route"], registry=r)
        self.ttft = Histogram("taxmeter_shadow_ttft_seconds", "", ["arm", "route"], registry=r)
        self.delta = Histogram(
            "taxmeter_latency_delta_seconds",
            "",
            ROUTE,
            registry=r,
            buckets=(-1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0, float("inf")),
        )
        self.esr = Gauge("taxmeter_effective_sample_ratio", "", ROUTE, registry=r)
        self.tax = Gauge(
            "taxmeter_alignment_tax", "", ["route", "judge", "window", "stat"], registry=r
        )
        self.tax_answered = Gauge(
            "taxmeter_alignment_tax_answered",
            "",
            ["route", "judge", "window", "stat"],
            registry=r,
        )
        self.flip = Gauge(
            "taxmeter_noise_refusal_flip_ratio", "", ["route", "arm", "window"], registry=r
        )
        self.inf = Histogram(
            "taxmeter_judge_inference_seconds", "", ["judge", "provider"], registry=r
        )
        self.batch = Histogram("taxmeter_judge_batch_size", "", ["judge"], registry=r)
        Gauge(
            "taxmeter_judge_provider_info", "", ["judge", "requested", "active"], registry=r
        ).labels("default", "cpu", "cpu").set(1)
        Gauge("taxmeter_build_info", "", ["version"], registry=r).labels("standin").set(1)
        self._server: WSGIServer | None = None
        self._thread = threading.Thread(target=self._run, name="standin", daemon=True)

    def _pair(self, route: StandinRoute) -> None:
        rng = self._rng
        n, mean, _, or_mean = self._means.get(route.name, (0, 0.0, 0, 0.0))
        q_u = min(1.0, max(0.0, rng.gauss(0.8, 0.1)))
        q_g = min(1.0, max(0.0, q_u - route.mean_tax + rng.gauss(0.0, 0.05)))
        d = q_u - q_g
        x = 1.0 if rng.random() < route.over_refusal_share else 0.0
        self.pairs.labels(route.name, "true").inc()
        self.q.labels(route.name, JUDGE, "unguarded").inc(q_u)
        self.q.labels(route.name, JUDGE, "guarded").inc(q_g)
        self.d2.labels(route.name, JUDGE).inc(d * d)
        self.vp.labels(route.name, JUDGE).inc((d - mean) ** 2)
        self.orf.labels(route.name).inc(x)
        self.orv.labels(route.name).inc((x - or_mean) ** 2)
        self.sb.labels(route.name).inc(0)
        self._means[route.name] = (
            n + 1,
            mean + (d - mean) / (n + 1),
            0,
            or_mean + (x - or_mean) / (n + 1),
        )
        self.mirrors.labels(route.name, "sampled").inc()
        self.mirrors.labels(route.name, "not_sampled").inc(3)
        self.jobs.labels(route.name, "completed").inc()
        self.open.labels(route.name, "queued").set(0)
        for arm, base in (("guarded", 0.3), ("unguarded", 0.2)):
            self.calls.labels(arm, route.name, "ok").inc()
            self.lat.labels(arm, route.name).observe(base + rng.random() * 0.1)
            self.ttft.labels(arm, route.name).observe(base / 4)
        self.delta.labels(route.name).observe(0.1 + rng.random() * 0.05)
        self.esr.labels(route.name).set(0.25)
        self.tax.labels(route.name, JUDGE, "1h", "point").set(mean)
        self.tax_answered.labels(route.name, JUDGE, "1h", "point").set(mean)
        self.flip.labels(route.name, "guarded", "1h").set(0.02)
        self.inf.labels("default", "cpu").observe(0.02)
        self.batch.labels("default").observe(2)

    def _run(self) -> None:
        while not self._stop.wait(self._period_s):
            for route in self._routes:
                self._pair(route)

    def start(self, port: int) -> None:
        self._server, _ = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
