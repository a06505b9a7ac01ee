"""Metrics of the remote judge backend: one collector per registry, shared by the judges'
backends, kept under one lock and exported at scrape time.

| metric | type | labels |
|---|---|---|
| ``taxmeter_judge_backend_state`` | gauge: 0 closed, 1 half-open, 2 open | judge, backend |
| ``taxmeter_judge_backend_ready`` | gauge (0/1) | judge, backend |
| ``taxmeter_judge_backend_requests_total`` | counter | judge, outcome |
| ``taxmeter_judge_backend_retries_total`` | counter | judge |
| ``taxmeter_judge_backend_breaker_transitions_total`` | counter | judge, to |

Outcomes: ``ok``, ``timeout``, ``unavailable``, ``error``, ``shed`` (refused without a call).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from taxmeter.judges.remote.resilience import BreakerState

__all__ = ["BACKEND_LABEL", "OUTCOMES", "KServeMetrics"]

BACKEND_LABEL = "kserve"
OUTCOMES = ("ok", "timeout", "unavailable", "error", "shed")


class _JudgeStats:
    __slots__ = ("ready", "requests", "retries", "state", "transitions")

    def __init__(self) -> None:
        self.state = BreakerState.CLOSED
        self.ready = False
        self.requests = dict.fromkeys(OUTCOMES, 0)
        self.retries = 0
        self.transitions = {s.label: 0 for s in BreakerState}


class KServeMetrics(Collector):
    """The remote backend's metrics, for every judge, kept under one lock and exported at
    scrape time. Create one per registry and share it between the judges' backends."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._lock = threading.Lock()
        self._judges: dict[str, _JudgeStats] = {}
        registry.register(self)

    def attach(self, judge: str) -> None:
        with self._lock:
            self._judges.setdefault(judge, _JudgeStats())

    def _stats(self, judge: str) -> _JudgeStats:
        return self._judges.setdefault(judge, _JudgeStats())

    def request(self, judge: str, outcome: str) -> None:
        with self._lock:
            self._stats(judge).requests[outcome] += 1

    def retry(self, judge: str) -> None:
        with self._lock:
            self._stats(judge).retries += 1

    def transition(self, judge: str, to: BreakerState) -> None:
        with self._lock:
            stats = self._stats(judge)
            stats.state = to
            stats.transitions[to.label] += 1

    def set_ready(self, judge: str, ready: bool) -> None:
        with self._lock:
            self._stats(judge).ready = ready

    def describe(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        return self._families({})

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with self._lock:
            snapshot = {
                judge: (s.state, s.ready, dict(s.requests), s.retries, dict(s.transitions))
                for judge, s in self._judges.items()
            }
        return self._families(snapshot)

    @staticmethod
    def _families(
        snapshot: Mapping[str, tuple[BreakerState, bool, dict[str, int], int, dict[str, int]]],
    ) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        state = GaugeMetricFamily(
            "taxmeter_judge_backend_state",
            "Remote judge backend circuit breaker: 0 closed, 1 half-open, 2 open",
            labels=["judge", "backend"],
        )
        ready = GaugeMetricFamily(
            "taxmeter_judge_backend_ready",
            "1 when the remote judge backend is reachable, its model ready and checked",
            labels=["judge", "backend"],
        )
        requests = CounterMetricFamily(
            "taxmeter_judge_backend_requests",
            "Inference batches sent to (or shed before) the remote judge backend, by outcome",
            labels=["judge", "outcome"],
        )
        retries = CounterMetricFamily(
            "taxmeter_judge_backend_retries",
            "ModelInfer retries (within the retry budget)",
            labels=["judge"],
        )
        transitions = CounterMetricFamily(
            "taxmeter_judge_backend_breaker_transitions",
            "Circuit breaker state changes, by the state entered",
            labels=["judge", "to"],
        )
        for judge, (st, rdy, reqs, n_retries, trans) in sorted(snapshot.items()):
            state.add_metric([judge, BACKEND_LABEL], float(st))
            ready.add_metric([judge, BACKEND_LABEL], 1.0 if rdy else 0.0)
            for outcome, n in reqs.items():
                requests.add_metric([judge, outcome], float(n))
            retries.add_metric([judge], float(n_retries))
            for to, n in trans.items():
                transitions.add_metric([judge, to], float(n))
        yield state
        yield ready
        yield requests
        yield retries
        yield transitions
