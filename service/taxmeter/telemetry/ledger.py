"""The accounting ledger: every mirrored request and every sampled job, counted exactly once.

The identities in DESIGN.md hold at every scrape because every update that touches more than
one series, and the snapshot a scrape reads, happen under one lock:

    Σ_transport received  ==  Σ_{route,outcome} mirror_requests
    sampled[route]        ==  completed + failed + shed + queued + in_flight   (per route)

Plain dicts under a lock, exported by a collector at scrape time (like
``prometheus_client.gc_collector``): no prometheus_client metric objects, whose independent
locks could be read half-updated.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from taxmeter.types import Arm, JobOutcome, MirrorOutcome, RouteLabel, Transport

_QUEUED = "queued"
_IN_FLIGHT = "in_flight"


@dataclass(frozen=True, slots=True)
class LedgerSnapshot:
    received: dict[str, int]
    requests: dict[tuple[str, str], int]
    jobs: dict[tuple[str, str], int]
    open: dict[tuple[str, str], int]
    incomplete: dict[tuple[str, str, str], int]
    shed: dict[tuple[str, str], int]

    def route_requests(self, route: str) -> int:
        return sum(v for (r, _), v in self.requests.items() if r == route)

    def sampled(self, route: str) -> int:
        return self.requests.get((route, MirrorOutcome.SAMPLED.value), 0)

    def routes(self) -> set[str]:
        return {r for r, _ in self.requests}


class Ledger:
    """Counts requests and jobs; registers its collector on ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._lock = threading.Lock()
        self._received: defaultdict[str, int] = defaultdict(int)
        self._requests: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._jobs: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._open: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._incomplete: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        self._shed: defaultdict[tuple[str, str], int] = defaultdict(int)
        for t in Transport:
            self._received[t.value] = 0
        if registry is not None:
            registry.register(_LedgerCollector(self))

    # -- ingress -------------------------------------------------------------------------

    def admit(self, transport: Transport, route: RouteLabel, outcome: MirrorOutcome) -> None:
        """One received request and its outcome; a sampled one is queued in the same step."""
        with self._lock:
            self._received[transport.value] += 1
            self._requests[(route, outcome.value)] += 1
            if outcome is MirrorOutcome.SAMPLED:
                self._open[(route, _QUEUED)] += 1
                self._open[(route, _IN_FLIGHT)] += 0

    # -- jobs ----------------------------------------------------------------------------

    def job_started(self, route: RouteLabel) -> None:
        """A queued job was taken by a worker."""
        with self._lock:
            self._open[(route, _QUEUED)] -= 1
            self._open[(route, _IN_FLIGHT)] += 1

    def job_finished(
        self,
        route: RouteLabel,
        outcome: JobOutcome,
        *,
        shed_reason: str | None = None,
        from_queue: bool = False,
    ) -> None:
        """A job ended. ``from_queue`` when it ends without having been started (shed)."""
        with self._lock:
            self._open[(route, _QUEUED if from_queue else _IN_FLIGHT)] -= 1
            self._jobs[(route, outcome.value)] += 1
            if outcome is JobOutcome.SHED:
                self._shed[(route, shed_reason or "unspecified")] += 1

    def pair_incomplete(self, route: RouteLabel, arm: Arm, reason: str) -> None:
        with self._lock:
            self._incomplete[(route, arm.value, reason)] += 1

    # -- reading -------------------------------------------------------------------------

    def snapshot(self) -> LedgerSnapshot:
        with self._lock:
            return LedgerSnapshot(
                received=dict(self._received),
                requests=dict(self._requests),
                jobs=dict(self._jobs),
                open=dict(self._open),
                incomplete=dict(self._incomplete),
                shed=dict(self._shed),
            )

    def open_jobs(self) -> int:
        with self._lock:
            return sum(self._open.values())


class _LedgerCollector(Collector):
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def collect(self) -> Iterator[Metric]:
        s = self._ledger.snapshot()
        received = CounterMetricFamily(
            "taxmeter_mirror_received",
            "Mirrored requests received, counted at the transport edge before parsing.",
            labels=["transport"],
        )
        for transport, v in sorted(s.received.items()):
            received.add_metric([transport], v)
        yield received

        requests = CounterMetricFamily(
            "taxmeter_mirror_requests",
            "Mirrored requests by route and ingress outcome (sampled, not_sampled, dropped_*, "
            "rejected).",
            labels=["route", "outcome"],
        )
        for (route, outcome), v in sorted(s.requests.items()):
            requests.add_metric([route, outcome], v)
        yield requests

        jobs = CounterMetricFamily(
            "taxmeter_shadow_jobs",
            "Sampled shadow jobs by how they ended (completed, failed, shed).",
            labels=["route", "outcome"],
        )
        for (route, outcome), v in sorted(s.jobs.items()):
            jobs.add_metric([route, outcome], v)
        yield jobs

        shed = CounterMetricFamily(
            "taxmeter_shadow_jobs_shed",
            "Shed shadow jobs by reason (judges warming up, judge backend down, draining...).",
            labels=["route", "reason"],
        )
        for (route, reason), v in sorted(s.shed.items()):
            shed.add_metric([route, reason], v)
        yield shed

        open_ = GaugeMetricFamily(
            "taxmeter_shadow_jobs_open",
            "Sampled jobs not yet ended: waiting in the queue or in flight.",
            labels=["route", "state"],
        )
        for (route, state), v in sorted(s.open.items()):
            open_.add_metric([route, state], v)
        yield open_

        incomplete = CounterMetricFamily(
            "taxmeter_pairs_incomplete",
            "Shadow jobs whose pair is incomplete, by the arm that failed and why.",
            labels=["route", "arm", "reason"],
        )
        for (route, arm, reason), v in sorted(s.incomplete.items()):
            incomplete.add_metric([route, arm, reason], v)
        yield incomplete

        ratio = GaugeMetricFamily(
            "taxmeter_effective_sample_ratio",
            "Completed (scored) pairs per mirrored request received, per route, since start.",
            labels=["route"],
        )
        for route in sorted(s.routes()):
            total = s.route_requests(route)
            if total:
                done = s.jobs.get((route, JobOutcome.COMPLETED.value), 0)
                ratio.add_metric([route], done / total)
        yield ratio
