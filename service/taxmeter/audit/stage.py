"""The audit stage: a ``PairObserver`` in front of the tax aggregator.

    JudgingSink ─▶ AuditStage.observe ─┬─ not in the sample ───────────────▶ aggregator
                                       └─ in the sample ─▶ auditor (async) ─▶ aggregator
                                                          (with reference labels, or
                                                           judge-only when it fails)

The sample is a hash of (salt, request id) below ``rate``: uniform, independent of the
labels, the same on every pod and restart. With ``audit.people`` a selected pair is aggregated
at once and held for people's labels (``audit/people.py``). A selected pair is counted once
(``taxmeter_audit_selected_total{outcome}``) and is always aggregated, with its reference
labels or without them, so the judge-only figures never lose a pair to the audit. Budgets:
``max_per_second`` (token bucket), the auditor's token budget per hour, ``max_pending``
pairs waiting; over any of them the pair is aggregated at once, judge-only. A guard-blocked
answer is not sent to the auditor (it is a refusal and never unsafe by definition).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib

import structlog

from taxmeter.audit.auditor import AuditFailed, Auditor
from taxmeter.audit.config import AuditConfig
from taxmeter.audit.metrics import AuditMetrics
from taxmeter.audit.people import PendingStore
from taxmeter.resilience import TokenBucket
from taxmeter.types import (
    ArmOutcome,
    ArmResult,
    Clock,
    PairObserver,
    PairReference,
    ReferenceLabel,
    ScoredPair,
)

log = structlog.get_logger("taxmeter.audit")

_TWO_64 = float(2**64)
_BLOCKED = ReferenceLabel(refusal=True, unsafe=False, quality=0.0)


def in_audit_sample(request_id: str, salt: str, rate: float) -> bool:
    digest = hashlib.blake2b(
        request_id.encode("utf-8", "surrogatepass"), digest_size=8, key=salt.encode()[:64]
    ).digest()
    return int.from_bytes(digest, "big") / _TWO_64 < rate


class AuditStage:
    """Implements ``types.PairObserver``; call ``observe`` on the event loop."""

    def __init__(
        self,
        config: AuditConfig,
        auditor: Auditor | None,
        inner: PairObserver,
        metrics: AuditMetrics,
        *,
        clock: Clock,
        people: PendingStore | None = None,
    ) -> None:
        """Exactly one of ``auditor`` (an LLM) and ``people`` (a pending store)."""
        self._config = config
        self._auditor = auditor
        self._inner = inner
        self._metrics = metrics
        self._bucket = TokenBucket(config.max_per_second, float(config.burst), clock)
        per_hour = config.auditor.max_tokens_per_hour if config.auditor else None
        self._cost = (
            TokenBucket(per_hour / 3600.0, float(per_hour), clock) if per_hour is not None else None
        )
        self._people = people
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def observe(self, scored: ScoredPair) -> None:
        pair = scored.pair
        cfg = self._config
        if not in_audit_sample(pair.request_id, cfg.salt, cfg.rate):
            self._inner.observe(scored)
            return
        outcome = None
        if self._closing:
            outcome = "shutdown"
        elif len(self._tasks) >= cfg.max_pending:
            outcome = "skipped_queue_full"
        elif not self._bucket.available(1.0):
            outcome = "skipped_budget"
        elif self._cost is not None and not self._cost.available(1.0):
            outcome = "skipped_cost_budget"
        if outcome is not None:
            self._metrics.selected.labels(pair.route, outcome).inc()
            self._inner.observe(scored)
            return
        self._bucket.take(1.0)
        if self._people is not None:
            # Aggregated now; the labels come back later (audit/people.py).
            held = self._people.add(scored)
            self._metrics.selected.labels(
                pair.route, "people_pending" if held else "skipped_people_full"
            ).inc()
            self._inner.observe(scored)
            return
        task = asyncio.get_running_loop().create_task(self._audit(scored))
        self._tasks.add(task)
        self._metrics.pending.set(len(self._tasks))
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._metrics.pending.set(len(self._tasks))

    async def _label(self, prompt: str, arm: ArmResult) -> ReferenceLabel:
        if arm.outcome is ArmOutcome.GUARD_BLOCK:
            return _BLOCKED
        assert self._auditor is not None
        labelled = await self._auditor.label(prompt, arm.text)
        if self._cost is not None:
            self._cost.take(float(labelled.tokens))
        return labelled.label

    async def _audit(self, scored: ScoredPair) -> None:
        pair = scored.pair
        outcome = "labelled"
        reference = None
        try:
            g, u = await asyncio.gather(
                self._label(pair.prompt, pair.guarded), self._label(pair.prompt, pair.unguarded)
            )
            reference = PairReference(g, u)
        except AuditFailed as exc:
            outcome = "auditor_failed"
            log.info("audit_failed", route=pair.route, reason=exc.reason)
        except asyncio.CancelledError:
            outcome = "shutdown"
        except Exception as exc:  # a bug or an unexpected client error: never fatal
            outcome = "auditor_failed"
            log.warning("audit_error", route=pair.route, error=type(exc).__name__)
        self._metrics.selected.labels(pair.route, outcome).inc()
        self._inner.observe(
            dataclasses.replace(scored, reference=reference) if reference is not None else scored
        )

    async def aclose(self, grace_s: float) -> None:
        """Let pending audits finish within ``grace_s``; the rest are aggregated judge-only."""
        self._closing = True
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)
        if self._auditor is not None:
            await self._auditor.aclose()
