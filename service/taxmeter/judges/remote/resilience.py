"""Resilience of the remote judge backend (pure logic, clock injected): the retry budget and the
circuit breaker. Backoff delays come from the shared ``taxmeter.resilience.Backoff``.

- ``RetryBudget``: retries allowed as a share of first attempts plus a floor rate, a
  ``TokenBucket`` (each first attempt deposits ``ratio`` tokens, time deposits ``min_per_s`` per
  second, a retry withdraws one; capped so that a quiet spell cannot bank a retry storm).
- ``CircuitBreaker``: closed → open → half-open → closed, its state exported as
  ``taxmeter_judge_backend_state``.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable

from taxmeter.judges.remote.config import KServeBreakerConfig
from taxmeter.resilience import TokenBucket
from taxmeter.types import Clock

__all__ = ["BreakerState", "CircuitBreaker", "RetryBudget"]


class RetryBudget:
    """Retries allowed as a share of first attempts plus a floor rate (a token bucket that
    starts full). Thread-safe."""

    def __init__(self, ratio: float, min_per_s: float, clock: Clock, cap: float = 10.0) -> None:
        self._ratio = ratio
        self._bucket = TokenBucket(min_per_s, max(cap, 1.0), clock)
        self._lock = threading.Lock()

    def on_request(self) -> None:
        """A first attempt went out: deposit ``ratio`` tokens."""
        with self._lock:
            self._bucket.deposit(self._ratio)

    def try_retry(self) -> bool:
        """Withdraw one token for a retry, if there (float drift of summed ratios tolerated)."""
        with self._lock:
            return self._bucket.try_take(1.0, tolerance=1e-9)

    @property
    def tokens(self) -> float:
        with self._lock:
            return self._bucket.tokens


class BreakerState(enum.IntEnum):
    """The exported gauge value of ``taxmeter_judge_backend_state``."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class CircuitBreaker:
    """Closed → (``failure_threshold`` consecutive failures) → open → (``open_s``) →
    half-open (up to ``half_open_max_calls`` probes) → closed on a probe success, open again
    on a probe failure. ``on_transition(state)`` is called on every change."""

    def __init__(
        self,
        config: KServeBreakerConfig,
        clock: Clock,
        on_transition: Callable[[BreakerState], None] = lambda _s: None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0
        self._lock = threading.Lock()

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            self._on_transition(state)

    def _advance(self) -> None:
        if (
            self._state is BreakerState.OPEN
            and self._clock.monotonic() - self._opened_at >= self._config.open_s
        ):
            self._probes = 0
            self._set(BreakerState.HALF_OPEN)

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose time is up reads as half-open)."""
        with self._lock:
            self._advance()
            return self._state

    def allow(self) -> bool:
        """May a call go out now? A half-open admission is a probe: report its result."""
        with self._lock:
            self._advance()
            if self._state is BreakerState.CLOSED:
                return True
            half_open = self._state is BreakerState.HALF_OPEN
            if half_open and self._probes < self._config.half_open_max_calls:
                self._probes += 1
                return True
            return False

    def on_success(self) -> None:
        with self._lock:
            self._failures = 0
            if self._state is BreakerState.HALF_OPEN:
                self._probes = 0
                self._set(BreakerState.CLOSED)

    def on_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or (
                self._state is BreakerState.CLOSED
                and self._failures >= self._config.failure_threshold
            ):
                self._opened_at = self._clock.monotonic()
                self._probes = 0
                self._set(BreakerState.OPEN)

    def on_neutral(self) -> None:
        """A call that says nothing about the pool's health (e.g. INVALID_ARGUMENT): frees a
        half-open probe slot without deciding."""
        with self._lock:
            if self._state is BreakerState.HALF_OPEN and self._probes > 0:
                self._probes -= 1
