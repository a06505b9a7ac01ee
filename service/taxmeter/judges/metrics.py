"""Prometheus metrics of the judge engine, created against the registry passed in.

| metric | type | labels |
|---|---|---|
| ``taxmeter_judge_batch_size`` | histogram | judge |
| ``taxmeter_judge_inference_seconds`` | histogram | judge, provider |
| ``taxmeter_judge_queue_seconds`` | histogram | judge |
| ``taxmeter_judge_queue_depth`` | gauge (read at scrape time) | judge |
| ``taxmeter_judge_failures_total`` | counter | judge, reason |
| ``taxmeter_judge_provider_info`` | gauge (1) | judge, requested, active |
| ``taxmeter_judge_ready`` | gauge (0/1) | judge |
| ``taxmeter_judge_deduplicated_items_total`` | counter | judge |

Failure reasons (bounded): ``queue_full``, ``closed``, ``not_ready``, ``inference``,
``load``. Label values are judge names from the repository, never request data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["JudgeBatchObserver", "JudgeMetrics"]

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_INFERENCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_QUEUE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class _QueueDepthCollector(Collector):
    """``taxmeter_judge_queue_depth`` read from each batcher at scrape time (a deque length)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: dict[str, Callable[[], int]] = {}

    def track(self, judge: str, depth: Callable[[], int]) -> None:
        with self._lock:
            self._sources[judge] = depth

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "taxmeter_judge_queue_depth", "Items waiting in a judge's batch queue", labels=["judge"]
        )
        with self._lock:
            sources = list(self._sources.items())
        for judge, depth in sources:
            family.add_metric([judge], float(depth()))
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "taxmeter_judge_queue_depth", "Items waiting in a judge's batch queue", labels=["judge"]
        )


class JudgeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.batch_size = Histogram(
            "taxmeter_judge_batch_size",
            "Items per inference batch",
            ["judge"],
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.inference_seconds = Histogram(
            "taxmeter_judge_inference_seconds",
            "Time to run one batch (tokenisation, session run and head mapping)",
            ["judge", "provider"],
            buckets=_INFERENCE_BUCKETS,
            registry=registry,
        )
        self.queue_seconds = Histogram(
            "taxmeter_judge_queue_seconds",
            "Time an item waited in the batch queue before its batch started",
            ["judge"],
            buckets=_QUEUE_BUCKETS,
            registry=registry,
        )
        self.failures = Counter(
            "taxmeter_judge_failures_total",
            "Items a judge did not score, by reason",
            ["judge", "reason"],
            registry=registry,
        )
        self.provider_info = Gauge(
            "taxmeter_judge_provider_info",
            "1 per judge: the provider requested and the one actually used",
            ["judge", "requested", "active"],
            registry=registry,
        )
        self.ready = Gauge(
            "taxmeter_judge_ready",
            "1 while the judge is warmed up and its backend ready",
            ["judge"],
            registry=registry,
        )
        self.deduplicated = Counter(
            "taxmeter_judge_deduplicated_items_total",
            "Items scored from an identical item of the same batch instead of being encoded "
            "again (the text the judge sees is the same)",
            ["judge"],
            registry=registry,
        )
        self._depth = _QueueDepthCollector()
        registry.register(self._depth)

    def track_queue(self, judge: str, depth: Callable[[], int]) -> None:
        self._depth.track(judge, depth)

    def set_provider(self, judge: str, requested: str, active: str) -> None:
        self.provider_info.labels(judge=judge, requested=requested, active=active).set(1)

    def set_ready(self, judge: str, ready: bool) -> None:
        self.ready.labels(judge=judge).set(1 if ready else 0)

    def failure(self, judge: str, reason: str, n: int = 1) -> None:
        self.failures.labels(judge=judge, reason=reason).inc(n)

    def observer(self, judge: str) -> JudgeBatchObserver:
        return JudgeBatchObserver(self, judge)


class JudgeBatchObserver:
    """Feeds one judge's batcher events into the metrics."""

    def __init__(self, metrics: JudgeMetrics, judge: str) -> None:
        self._batch = metrics.batch_size.labels(judge=judge)
        self._queue = metrics.queue_seconds.labels(judge=judge)
        self._metrics = metrics
        self._judge = judge

    def on_batch(self, size: int, queue_waits_s: Sequence[float], ok: bool) -> None:
        self._batch.observe(size)
        for w in queue_waits_s:
            self._queue.observe(max(0.0, w))
        if not ok:
            self._metrics.failure(self._judge, "inference", size)

    def on_shed(self, reason: str) -> None:
        self._metrics.failure(self._judge, reason)
