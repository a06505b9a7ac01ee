"""Labels from people: the pending audit items and the owner-only Unix socket that moves them.

With ``audit.people`` the pairs of the audit sample are aggregated judge-only at once (like
any pair) and kept, bounded in count and age, as *pending items* (prompt, answers, judge
scores). ``taxmeter audit export`` fetches them through the socket into a file with
owner-only permissions; people fill in the labels; ``taxmeter audit import`` sends the labels
back by pair id and the aggregator adds the audited sums (``TaxAggregator.observe_reference``;
they land in the current window slot, hours after the pair's own sums: a window's audited
pairs are then a random subset of somewhat older pairs). Nothing is written to disk by the
sidecar; the socket is created with mode 0600, so only the sidecar's user (``kubectl exec``
into its container) can talk to it.

Protocol: one JSON object per line. ``{"op": "export", "max_items": n}`` → the items, one per
line, then ``{"done": n}``; ``{"op": "import"}`` followed by label lines until EOF →
``{"imported": i, "unknown_pair": u, "invalid": v}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import structlog

from taxmeter.audit.config import PeopleConfig
from taxmeter.audit.metrics import AuditMetrics
from taxmeter.errors import ConfigError
from taxmeter.types import (
    ArmOutcome,
    ArmResult,
    Clock,
    PairReference,
    ReferenceLabel,
    ScoredPair,
    ShadowPair,
)

log = structlog.get_logger("taxmeter.audit")

MAX_LINE = 4 * 1024 * 1024
_ARMS = ("guarded", "unguarded")


class LateReferenceSink(Protocol):
    def observe_reference(self, scored: ScoredPair) -> bool: ...


@dataclasses.dataclass(slots=True)
class PendingItem:
    pair_id: str
    created_unix: float
    created_monotonic: float
    scored: ScoredPair


def export_record(item: PendingItem) -> dict[str, Any]:
    pair = item.scored.pair

    def arm(result: ArmResult) -> dict[str, Any]:
        return {"answer": result.text, "blocked": result.outcome is ArmOutcome.GUARD_BLOCK}

    blank = {"refusal": None, "unsafe": None, "quality": None}
    return {
        "pair_id": item.pair_id,
        "route": pair.route,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(item.created_unix)),
        "prompt": pair.prompt,
        "guarded": arm(pair.guarded),
        "unguarded": arm(pair.unguarded),
        "label": {"guarded": dict(blank), "unguarded": dict(blank)},
    }


def parse_label(obj: Any, item: PendingItem) -> PairReference | None:
    """The reference of one import line, or None when any needed value is missing or wrong.
    A blocked arm needs no label (it is a refusal by definition)."""
    return parse_reference(obj, item.scored.pair)


def parse_reference(obj: Any, pair: ShadowPair) -> PairReference | None:
    """The reference in one label line (``{"label": {"guarded": {...}, "unguarded": {...}}}``)
    for ``pair``, or None when any needed value is missing or wrong. Shared by ``taxmeter
    audit import`` and ``taxmeter replay --labels`` (one format, one parser)."""
    label = obj.get("label") if isinstance(obj, dict) else None
    if not isinstance(label, dict):
        return None
    out: list[ReferenceLabel] = []
    for arm, result in zip(_ARMS, (pair.guarded, pair.unguarded), strict=True):
        if result.outcome is ArmOutcome.GUARD_BLOCK:
            out.append(ReferenceLabel(True, False, 0.0))
            continue
        values = label.get(arm)
        if not isinstance(values, dict):
            return None
        refusal, unsafe, quality = (values.get(k) for k in ("refusal", "unsafe", "quality"))
        if not isinstance(refusal, bool) or not isinstance(unsafe, bool):
            return None
        if (
            isinstance(quality, bool)
            or not isinstance(quality, int | float)
            or not 0.0 <= float(quality) <= 1.0
        ):
            return None
        out.append(ReferenceLabel(refusal, unsafe, float(quality)))
    return PairReference(out[0], out[1])


class PendingStore:
    """Pending items, oldest first, bounded in count and age. Event-loop only."""

    def __init__(
        self,
        config: PeopleConfig,
        metrics: AuditMetrics,
        clock: Clock,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._clock = clock
        self._wall = wall
        self._items: OrderedDict[str, PendingItem] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def expire(self) -> None:
        limit = self._clock.monotonic() - self._config.max_age_s
        while self._items:
            first = next(iter(self._items.values()))
            if first.created_monotonic > limit:
                break
            self._items.popitem(last=False)
            self._metrics.people.labels("expired").inc()
        self._metrics.people_pending.set(len(self._items))

    def add(self, scored: ScoredPair) -> bool:
        self.expire()
        if len(self._items) >= self._config.max_items:
            return False
        pair_id = secrets.token_hex(8)
        self._items[pair_id] = PendingItem(pair_id, self._wall(), self._clock.monotonic(), scored)
        self._metrics.people_pending.set(len(self._items))
        return True

    def oldest(self, limit: int) -> list[PendingItem]:
        self.expire()
        return [item for _, item in zip(range(limit), self._items.values(), strict=False)]

    def take(self, pair_id: str) -> PendingItem | None:
        item = self._items.pop(pair_id, None)
        self._metrics.people_pending.set(len(self._items))
        return item

    def peek(self, pair_id: str) -> PendingItem | None:
        return self._items.get(pair_id)


def _remove_socket(path: Path) -> None:
    """Remove a stale socket (never another kind of file)."""
    with contextlib.suppress(FileNotFoundError):
        if path.is_socket():
            path.unlink()


class PeopleDesk:
    """The owner-only Unix socket server for ``taxmeter audit export/import``."""

    def __init__(
        self,
        config: PeopleConfig,
        store: PendingStore,
        sink: LateReferenceSink,
        metrics: AuditMetrics,
    ) -> None:
        self._config = config
        self._store = store
        self._sink = sink
        self._metrics = metrics
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        path = self._config.socket_path
        _remove_socket(path)
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._handle, path=str(path), limit=MAX_LINE
            )
        except OSError as exc:
            raise ConfigError(
                "audit.people.socket_path", f"cannot listen on {path}: {exc.strerror or exc}"
            ) from None
        finally:
            os.umask(old)
        path.chmod(0o600)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            _remove_socket(self._config.socket_path)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await reader.readline() or b"{}")
            op = request.get("op") if isinstance(request, dict) else None
            if op == "export":
                limit = request.get("max_items", self._config.max_items)
                limit = limit if isinstance(limit, int) and limit > 0 else 0
                items = self._store.oldest(min(limit, self._config.max_items))
                for item in items:
                    writer.write(json.dumps(export_record(item)).encode() + b"\n")
                writer.write(json.dumps({"done": len(items)}).encode() + b"\n")
            elif op == "import":
                counts = {"imported": 0, "unknown_pair": 0, "invalid": 0}
                while line := await reader.readline():
                    counts[self._import_line(line)] += 1
                for outcome, n in counts.items():
                    self._metrics.people.labels(outcome).inc(n)
                writer.write(json.dumps(counts).encode() + b"\n")
            else:
                writer.write(b'{"error": "op must be export or import"}\n')
            await writer.drain()
        except (ValueError, asyncio.LimitOverrunError, ConnectionError) as exc:
            log.info("audit_desk_bad_request", error=type(exc).__name__)
            with contextlib.suppress(ConnectionError):
                writer.write(b'{"error": "bad request"}\n')
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _import_line(self, line: bytes) -> str:
        try:
            obj = json.loads(line)
        except ValueError:
            return "invalid"
        pair_id = obj.get("pair_id") if isinstance(obj, dict) else None
        item = self._store.peek(pair_id) if isinstance(pair_id, str) else None
        if item is None:
            return "unknown_pair"
        reference = parse_label(obj, item)
        if reference is None:
            return "invalid"
        self._store.take(item.pair_id)
        self._sink.observe_reference(dataclasses.replace(item.scored, reference=reference))
        self._metrics.selected.labels(item.scored.pair.route, "labelled").inc()
        return "imported"
