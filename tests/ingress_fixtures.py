"""Test helpers for the ingress edge and the client: a recording fake ``MirrorIntake``.

Not a test module (no ``test_`` prefix); import it as ``from tests.ingress_fixtures import ...``
or, with ``tests`` on ``sys.path``, as ``ingress_fixtures``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from taxmeter.types import Admission, MirrorOutcome, MirrorRequest, RouteLabel, Transport


@dataclass
class Rejected:
    transport: Transport
    route: RouteLabel
    error: Exception


@dataclass
class RecordingIntake:
    """Implements ``MirrorIntake``: records every call, decides with ``decide`` (default:
    every request sampled)."""

    decide: Callable[[MirrorRequest], MirrorOutcome] = lambda _r: MirrorOutcome.SAMPLED
    submitted: list[MirrorRequest] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, request: MirrorRequest) -> Admission:
        outcome = self.decide(request)
        with self._lock:
            self.submitted.append(request)
        reason = "" if outcome is MirrorOutcome.SAMPLED else f"fake: {outcome.value}"
        return Admission(request.request_id, outcome, reason)

    def reject(self, transport: Transport, route: RouteLabel, error: Exception) -> None:
        with self._lock:
            self.rejected.append(Rejected(transport, route, error))

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.submitted) + len(self.rejected)

    def __repr__(self) -> str:
        # Hypothesis reprs a test's arguments (fixtures too) for every example; the history
        # grows over a fuzz run (a 462 kB repr in CI, which Hypothesis warns of: an error here)
        with self._lock:
            return (
                f"RecordingIntake(submitted={len(self.submitted)}, rejected={len(self.rejected)})"
            )


class CountingIntake:
    """A minimal, allocation-free ``MirrorIntake`` for benchmarks: counts, samples 1 in ``n``."""

    def __init__(self, every: int = 10) -> None:
        self._every = every
        self._lock = threading.Lock()
        self.submitted = 0
        self.rejected = 0

    def submit(self, request: MirrorRequest) -> Admission:
        with self._lock:
            self.submitted += 1
            n = self.submitted
        if n % self._every == 0:
            return Admission(request.request_id, MirrorOutcome.SAMPLED)
        return Admission(request.request_id, MirrorOutcome.NOT_SAMPLED, "sample rate")

    def reject(self, transport: Transport, route: RouteLabel, error: Exception) -> None:
        with self._lock:
            self.rejected += 1
