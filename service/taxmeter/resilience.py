"""The two pacing primitives every component shares: a backoff and a token bucket.

- ``Backoff``: capped exponential delays, doubling from ``initial_s`` to ``max_s``, with
  optional "equal jitter" (half the delay fixed, half uniform) so that synchronized clients
  spread out. Used by the remote judge backend's retries, the mirror client's reconnects and
  the judge engine's warm-up retries.
- ``TokenBucket``: tokens refilled continuously from an injected clock, capped at a capacity.
  Used by the sampler's shadow and token budgets and the remote judge backend's retry budget.

Both are pure logic (clock and random source injected), not thread-safe: a caller that shares
one between threads holds its own lock. Why not ``tenacity``: see docs/judges-remote.md.
"""

from __future__ import annotations

import random

from taxmeter.types import Clock

__all__ = ["Backoff", "TokenBucket", "backoff_delay_s"]


def backoff_delay_s(
    attempt: int, initial_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """Delay before retry number ``attempt`` (1-based): ``initial_s * 2**(attempt-1)`` capped
    at ``max_s``; with ``rng``, "equal jitter": half of it fixed, half uniform."""
    base: float = min(max_s, initial_s * 2.0 ** min(attempt - 1, 64))
    if rng is None:
        return base
    return base / 2 + rng.uniform(0.0, base / 2)


class Backoff:
    """Successive delays of a retry loop: ``next_s()`` gives the next one, ``reset()`` starts
    over after a success. ``jitter=False`` gives the exact doubling sequence."""

    def __init__(
        self,
        initial_s: float,
        max_s: float,
        *,
        jitter: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < initial_s <= max_s:
            raise ValueError("0 < initial_s <= max_s required")
        self._initial_s = initial_s
        self._max_s = max_s
        self._rng = (rng or random.Random()) if jitter else None
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """Delays handed out since the last ``reset()``."""
        return self._attempts

    def delay_s(self, attempt: int) -> float:
        """The delay before retry number ``attempt`` (1-based), without changing the state."""
        return backoff_delay_s(attempt, self._initial_s, self._max_s, self._rng)

    def next_s(self) -> float:
        self._attempts += 1
        return self.delay_s(self._attempts)

    def reset(self) -> None:
        self._attempts = 0


class TokenBucket:
    """``capacity`` tokens at most, refilled at ``rate_per_s`` from the injected clock; starts
    full. Not thread-safe."""

    def __init__(self, rate_per_s: float, capacity: float, clock: Clock) -> None:
        if rate_per_s < 0 or capacity < 0:
            raise ValueError("rate_per_s and capacity must be >= 0")
        self._rate = rate_per_s
        self._capacity = capacity
        self._tokens = capacity
        self._clock = clock
        self._last = clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def available(self, cost: float) -> bool:
        """Whether ``cost`` tokens are there now (``take`` them once the action happened)."""
        self._refill()
        return self._tokens >= cost

    def take(self, cost: float) -> None:
        """Withdraw ``cost`` tokens (the balance may go below zero: a debt refilled later)."""
        self._tokens -= cost

    def try_take(self, cost: float, *, tolerance: float = 0.0) -> bool:
        """Withdraw ``cost`` if there (``tolerance``: float drift accepted); never below 0."""
        self._refill()
        if self._tokens >= cost - tolerance:
            self._tokens = max(0.0, self._tokens - cost)
            return True
        return False

    def deposit(self, amount: float) -> None:
        """Add ``amount`` tokens (capped at the capacity)."""
        self._refill()
        self._tokens = min(self._capacity, self._tokens + amount)
