"""The mirror client for asyncio apps: a bounded buffer the app fills without blocking, and a
sender task that sends it in batches over ``MirrorStream`` (see ``taxmeter.client``)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Self

import grpc
import structlog

from taxmeter.client.messages import ClientStats, ProductionInfo, encode_mirror
from taxmeter.proto.taxmeter.v1 import mirror_pb2
from taxmeter.resilience import Backoff

_log = structlog.get_logger("taxmeter.client")
_STREAM_METHOD = "/taxmeter.v1.MirrorService/MirrorStream"


class AsyncMirrorClient:
    """Mirrors requests to the sidecar from an asyncio app. Create it inside the event loop."""

    def __init__(
        self,
        target: str = "localhost:50051",
        *,
        buffer_size: int = 1000,
        batch_max: int = 100,
        flush_interval_s: float = 0.05,
        send_timeout_s: float = 5.0,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | Callable[[], str] | None = None,
    ) -> None:
        """``credentials``: TLS or mutual TLS to the sidecar (``grpc.ssl_channel_credentials``);
        ``token``: the sidecar's bearer token (``ingress.bearer_token_file``), or a callable
        asked on every send (a rotating secret, e.g. ``RotatingFileSecret(...).value``)."""
        if buffer_size < 1 or batch_max < 1:
            raise ValueError("buffer_size and batch_max must be >= 1")
        if flush_interval_s < 0 or send_timeout_s <= 0:
            raise ValueError("flush_interval_s must be >= 0 and send_timeout_s > 0")
        self._target = target
        self._credentials = credentials
        self._token = token
        self._buffer_size = buffer_size
        self._batch_max = batch_max
        self._flush_interval_s = flush_interval_s
        self._send_timeout_s = send_timeout_s
        self._backoff = Backoff(backoff_initial_s, backoff_max_s)  # ValueError unless 0 < i <= m
        # The buffer and the counters are shared with app threads (MirrorClient): one lock.
        self._lock = threading.Lock()
        self._buffer: collections.deque[bytes] = collections.deque()
        self._sent = self._dropped_full = self._dropped_send = self._dropped_invalid = 0
        self._rejected = 0
        self._sending = 0
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._channel: grpc.aio.Channel | None = None
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stop = asyncio.Event()

    # -- the app's side (any thread, never blocks, never raises) ----------------------------

    def mirror(
        self,
        body: Mapping[str, Any] | bytes,
        *,
        route: str,
        category: str | None = None,
        request_id: str | None = None,
        production: ProductionInfo | None = None,
        force_sample: bool = False,
    ) -> None:
        """Queues one mirrored request; returns at once. Never raises."""
        try:
            item = encode_mirror(body, route, category, request_id, production, force_sample)
        except Exception:  # anything the app passed that we cannot serialize; counted
            with self._lock:
                self._dropped_invalid += 1
            return
        with self._lock:
            if self._closed or len(self._buffer) >= self._buffer_size:
                self._dropped_full += 1
                return
            self._buffer.append(item)
            n = len(self._buffer)
        if n == 1 or n == self._batch_max:
            self._notify(full=n >= self._batch_max)

    def stats(self) -> ClientStats:
        with self._lock:
            return ClientStats(
                self._sent,
                self._dropped_full,
                self._dropped_send,
                self._dropped_invalid,
                self._rejected,
                len(self._buffer),
            )

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Starts the sender on the running loop (called by the first ``mirror`` otherwise)."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._task = self._loop.create_task(self._run(), name="taxmeter-mirror-sender")

    async def flush(self, timeout_s: float = 5.0) -> bool:
        """Waits until everything buffered has been sent or dropped; False on timeout."""
        self.start()
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    await self._idle.wait()
                    with self._lock:
                        if not self._buffer and not self._sending:
                            return True
                    self._idle.clear()
                    self._wake.set()
        except TimeoutError:
            return False

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Sends what is buffered (within ``timeout_s``), then stops; later mirrors are dropped."""
        with self._lock:
            self._closed = True
        if self._task is not None:
            self._stop.set()
            self._wake.set()
            self._full.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        with self._lock:
            self._dropped_send += len(self._buffer)
            self._buffer.clear()
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the sender (event loop thread) -----------------------------------------------------

    def _notify(self, *, full: bool) -> None:
        if self._loop is None:
            try:
                self.start()
            except RuntimeError:  # no running loop in this thread: wait for one, keep buffer
                return
        if threading.get_ident() == self._loop_thread:
            self._on_items(full)
        else:
            assert self._loop is not None
            # A closed loop raises RuntimeError: the buffer is then dropped and counted at close.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._on_items, full)

    def _on_items(self, full: bool) -> None:
        self._idle.clear()
        self._wake.set()
        if full:
            self._full.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                waiting = len(self._buffer)
            if not waiting:
                self._idle.set()
                if self._stop.is_set():
                    return
                continue
            if waiting < self._batch_max and not self._stop.is_set():
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._flush_interval_s)
            with self._lock:
                n = min(len(self._buffer), self._batch_max)
                batch = [self._buffer.popleft() for _ in range(n)]
                self._sending = n
            ok = await self._send(batch)
            with self._lock:
                self._sending = 0
            self._wake.set()
            if ok:
                self._backoff.reset()
            elif not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self._backoff.next_s())

    async def _send(self, batch: list[bytes]) -> bool:
        if self._channel is None:
            self._channel = (
                grpc.aio.secure_channel(self._target, self._credentials)
                if self._credentials is not None
                else grpc.aio.insecure_channel(self._target)
            )
        metadata = None
        if self._token is not None:
            token = self._token() if callable(self._token) else self._token
            metadata = (("authorization", f"Bearer {token}"),)
        call = self._channel.stream_unary(
            _STREAM_METHOD,
            request_serializer=None,
            response_deserializer=mirror_pb2.MirrorStreamSummary.FromString,
        )

        async def items() -> AsyncIterator[bytes]:
            for item in batch:
                yield item

        try:
            summary = await call(items(), timeout=self._send_timeout_s, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            with self._lock:
                self._dropped_send += len(batch)
            _log.warning(
                "mirror_send_failed", target=self._target, code=exc.code().name, dropped=len(batch)
            )
            return False
        with self._lock:
            self._sent += int(summary.received)
            self._rejected += int(summary.rejected)
            self._dropped_send += max(0, len(batch) - int(summary.received))
        return True
