"""The sampler: the ``MirrorIntake`` the ingress hands every request to.

Decides sampled / not sampled deterministically from the request id, applies the cost budget,
enqueues the job, and counts the outcome in the ledger in one step. It never blocks: the
whole decision is a hash, two token buckets and a non-blocking queue put.

Adaptive rate: dropping at the tail is not random with respect to the tax (it clusters at peak
hours and on long prompts), so when the shadow queue fills past ``adaptive_high_water`` the
sampler lowers a global scale factor by 30% (at most once per ``adaptive_interval_s``, and only
while the queue is not already draining), and raises it again by 25% an interval while the
queue is below ``adaptive_low_water``. The scaled rate is still a
hash threshold, so the requests that are shadowed stay a uniform sample of the traffic.

The controller runs on arrivals **and on a timer**: while the scale is below 1, a one-shot
timer (the injected :class:`Scheduler`, the event loop in the app) re-runs it every
``adaptive_interval_s``, so an idle sidecar whose queue has emptied recovers on time instead
of keeping its last scale until the next request. At scale 1 no timer is armed (no polling).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from taxmeter.errors import InvalidRequestError
from taxmeter.resilience import TokenBucket
from taxmeter.sampling.config import SamplingConfig
from taxmeter.telemetry.ledger import Ledger
from taxmeter.types import (
    Admission,
    Clock,
    MirrorOutcome,
    MirrorRequest,
    RouteLabel,
    SystemClock,
    Transport,
)

log = structlog.get_logger("taxmeter.sampling")

_TWO_64 = float(2**64)


class ShadowQueue(Protocol):
    """The dispatcher, as the sampler sees it."""

    def try_enqueue(self, request: MirrorRequest) -> bool: ...

    def load(self) -> float: ...


class Scheduler(Protocol):
    """Runs a callback once, ``delay_s`` from now (``asyncio.AbstractEventLoop.call_later``);
    returns ``None`` when it cannot (then the next arrival adjusts the scale)."""

    def call_later(self, delay_s: float, callback: Callable[[], None], /) -> object | None: ...


class LoopScheduler:
    """The running asyncio loop as a :class:`Scheduler` (looked up when a timer is armed: the
    sampler is called on the loop by both ingress transports)."""

    def call_later(self, delay_s: float, callback: Callable[[], None], /) -> object | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called off the loop (a synchronous caller): no timer
            return None
        return loop.call_later(delay_s, callback)


def sample_point(salt: str, request_id: str) -> float:
    """A uniform number in [0, 1) from the request id: the same on every replica."""
    digest = hashlib.blake2b(
        request_id.encode("utf-8", "surrogatepass"), digest_size=8, key=salt.encode()[:64]
    ).digest()
    return int.from_bytes(digest, "big") / _TWO_64


class Sampler:
    """Implements ``taxmeter.types.MirrorIntake``."""

    def __init__(
        self,
        config: SamplingConfig,
        queue: ShadowQueue,
        ledger: Ledger,
        registry: CollectorRegistry | None = None,
        *,
        clock: Clock | None = None,
        scheduler: Scheduler | None = None,
    ) -> None:
        self._config = config
        self._scheduler = scheduler
        self._timer_armed = False
        self._queue = queue
        self._ledger = ledger
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._shadow_bucket = TokenBucket(
            config.max_shadows_per_s, config.burst_shadows, self._clock
        )
        # Token budget: a minute's worth of depth, refilled per second.
        self._token_bucket = TokenBucket(
            config.max_tokens_per_min / 60.0, config.max_tokens_per_min, self._clock
        )
        self._scale = 1.0
        self._last_adjust = self._clock.monotonic()
        self._last_load = 0.0
        if registry is not None:
            registry.register(_SamplerCollector(self))

    # -- MirrorIntake ---------------------------------------------------------------------

    def submit(self, request: MirrorRequest) -> Admission:
        outcome, reason = self._decide(request)
        self._ledger.admit(request.transport, request.route, outcome)
        return Admission(request.request_id, outcome, reason)

    def reject(self, transport: Transport, route: RouteLabel, error: Exception) -> None:
        self._ledger.admit(transport, route, MirrorOutcome.REJECTED)
        field = error.field if isinstance(error, InvalidRequestError) else "request"
        log.debug("mirror_rejected", transport=transport.value, route=route, field=field)

    # -- decisions ------------------------------------------------------------------------

    def rate(self, route: RouteLabel) -> float:
        """The configured rate for a route (before the adaptive scale)."""
        return self._config.route_rates.get(route, self._config.rate)

    @property
    def scale(self) -> float:
        return self._scale

    def _decide(self, request: MirrorRequest) -> tuple[MirrorOutcome, str]:
        with self._lock:
            self._adapt()
            if not request.force_sample:
                rate = self.rate(request.route) * self._scale
                if sample_point(self._config.salt, request.request_id) >= rate:
                    return MirrorOutcome.NOT_SAMPLED, f"sample rate {rate:.4g}"
            cost = float(request.estimated_tokens)
            if not self._shadow_bucket.available(1.0):
                return MirrorOutcome.DROPPED_BUDGET, "shadow budget (max_shadows_per_s)"
            if not self._token_bucket.available(cost):
                return MirrorOutcome.DROPPED_BUDGET, "token budget (max_tokens_per_min)"
            if not self._queue.try_enqueue(request):
                return MirrorOutcome.DROPPED_QUEUE_FULL, "shadow queue full"
            self._shadow_bucket.take(1.0)
            self._token_bucket.take(cost)
            return MirrorOutcome.SAMPLED, ""

    def _on_timer(self) -> None:
        with self._lock:
            self._timer_armed = False
            self._adapt()

    def _arm_timer(self, now: float) -> None:
        """A one-shot timer to the next adjustment, only while the scale is below 1."""
        if self._scheduler is None or self._timer_armed or self._scale >= 1.0:
            return
        delay = max(0.0, self._last_adjust + self._config.adaptive_interval_s - now)
        self._timer_armed = self._scheduler.call_later(delay, self._on_timer) is not None

    def _adapt(self) -> None:
        cfg = self._config
        if not cfg.adaptive:
            return
        now = self._clock.monotonic()
        if now - self._last_adjust < cfg.adaptive_interval_s:
            self._arm_timer(now)
            return
        self._last_adjust = now
        load = self._queue.load()
        old = self._scale
        # Decrease only while the queue is not already draining (avoids overshooting to the
        # floor while a full queue empties); increase multiplicatively, so recovery takes a
        # few intervals from any scale rather than dozens from the floor.
        if load >= cfg.adaptive_high_water and load >= self._last_load:
            self._scale = max(cfg.adaptive_min_scale, self._scale * 0.7)
        elif load <= cfg.adaptive_low_water and self._scale < 1.0:
            self._scale = min(1.0, self._scale * 1.25 + 0.005)
        self._last_load = load
        if self._scale != old:
            log.info("sampling_scale_changed", scale=round(self._scale, 4), queue_load=load)
        self._arm_timer(now)


class _SamplerCollector(Collector):
    def __init__(self, sampler: Sampler) -> None:
        self._sampler = sampler

    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily(
            "taxmeter_sampling_scale",
            "Adaptive factor (0..1] applied to every configured sample rate; below 1 while the "
            "shadow workers fall behind.",
        )
        g.add_metric([], self._sampler.scale)
        yield g
        r = GaugeMetricFamily(
            "taxmeter_sample_rate", "Configured sample rate per route.", labels=["route"]
        )
        r.add_metric(["_default"], self._sampler.rate("_default"))
        for route, rate in sorted(self._sampler._config.route_rates.items()):
            r.add_metric([route], rate)
        yield r
