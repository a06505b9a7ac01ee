"""A small client an application uses to mirror its LLM calls to the taxmeter sidecar.

Fire-and-forget: :meth:`AsyncMirrorClient.mirror` serializes the request, puts it in a bounded
buffer and returns; it never blocks and never raises into the app. A background task sends the
buffer in batches, one ``MirrorStream`` call per batch (at most ``batch_max`` items, or what
arrived within ``flush_interval_s`` of the first). When the sidecar is down, the failed batch is
dropped and counted, and the sender backs off (``taxmeter.resilience.Backoff``) while the
buffer fills; once full, new mirrors are dropped and counted. :meth:`stats` says what happened.

    client = AsyncMirrorClient("localhost:50051")
    client.mirror(request_body, route="support-chat")   # after each production LLM call
    await client.aclose()                               # at shutdown

:class:`MirrorClient` is the same for non-async apps: its sender runs in a background thread
with its own event loop, and ``mirror`` may be called from any thread.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple, Self

import grpc
import structlog

from taxmeter.proto.taxmeter.v1 import mirror_pb2
from taxmeter.resilience import Backoff

__all__ = ["AsyncMirrorClient", "ClientStats", "MirrorClient", "ProductionInfo"]

_log = structlog.get_logger("taxmeter.client")
_STREAM_METHOD = "/taxmeter.v1.MirrorService/MirrorStream"
_ARMS = {"guarded": mirror_pb2.ARM_GUARDED, "unguarded": mirror_pb2.ARM_UNGUARDED}


class ClientStats(NamedTuple):
    """Counts since the client was created."""

    sent: int
    """Mirrors the sidecar received (it acknowledged the batch that carried them)."""
    dropped_buffer_full: int
    """Mirrors dropped at once because the buffer was full (sidecar slow or down)."""
    dropped_send_error: int
    """Mirrors lost because their batch could not be sent (sidecar down, timeout, closing)."""
    dropped_invalid: int
    """Mirrors that could not be serialized (a body that is not JSON-serializable)."""
    rejected: int
    """Sent mirrors the sidecar refused as invalid (counted there too)."""
    buffered: int
    """Mirrors waiting in the buffer now."""


@dataclass(frozen=True, slots=True)
class ProductionInfo:
    """The answer production got, to let taxmeter reuse it instead of calling that arm."""

    text: str
    arm: str = "guarded"
    latency_s: float = 0.0
    ttft_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""


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
            item = _encode(body, route, category, request_id, production, force_sample)
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
            return ClientStats(self._sent, self._dropped_full, self._dropped_send,
                               self._dropped_invalid, self._rejected, len(self._buffer))

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
            _log.warning("mirror_send_failed", target=self._target, code=exc.code().name,
                         dropped=len(batch))
            return False
        with self._lock:
            self._sent += int(summary.received)
            self._rejected += int(summary.rejected)
            self._dropped_send += max(0, len(batch) - int(summary.received))
        return True


class MirrorClient:
    """The same client for non-async apps: a background thread runs its own event loop.

    ``mirror`` may be called from any thread; ``close`` (or the ``with`` block) flushes and
    stops the thread.
    """

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
        kwargs: dict[str, Any] = {
            "buffer_size": buffer_size, "batch_max": batch_max,
            "flush_interval_s": flush_interval_s, "send_timeout_s": send_timeout_s,
            "backoff_initial_s": backoff_initial_s, "backoff_max_s": backoff_max_s,
            "credentials": credentials, "token": token,
        }
        self._loop = asyncio.new_event_loop()
        created: Future[AsyncMirrorClient] = Future()

        def run() -> None:
            asyncio.set_event_loop(self._loop)

            async def make() -> AsyncMirrorClient:
                inner = AsyncMirrorClient(target, **kwargs)
                inner.start()
                return inner

            try:
                created.set_result(self._loop.run_until_complete(make()))
            except BaseException as exc:  # surfaced in the constructor below
                created.set_exception(exc)
                return
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="taxmeter-mirror-client", daemon=True)
        self._thread.start()
        self._inner = created.result(timeout=10)
        self._closed = False

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
        self._inner.mirror(body, route=route, category=category, request_id=request_id,
                           production=production, force_sample=force_sample)

    def stats(self) -> ClientStats:
        return self._inner.stats()

    def flush(self, timeout_s: float = 5.0) -> bool:
        if self._closed:
            return False
        fut = asyncio.run_coroutine_threadsafe(self._inner.flush(timeout_s), self._loop)
        return fut.result(timeout_s + 1.0)

    def close(self, timeout_s: float = 5.0) -> None:
        if self._closed:
            return
        self._closed = True
        fut = asyncio.run_coroutine_threadsafe(self._inner.aclose(timeout_s), self._loop)
        try:
            fut.result(timeout_s + 2.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _encode(
    body: Mapping[str, Any] | bytes,
    route: str,
    category: str | None,
    request_id: str | None,
    production: ProductionInfo | None,
    force_sample: bool,
) -> bytes:
    raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    msg = mirror_pb2.MirrorRequest(
        request_id=(request_id or "").encode(),
        route=route.encode(),
        category=(category or "").encode(),
        body=raw,
        force_sample=force_sample,
    )
    if production is not None:
        msg.production.CopyFrom(
            mirror_pb2.ProductionAnswer(
                text=production.text.encode(),
                arm=_ARMS[production.arm],
                latency_s=production.latency_s,
                ttft_s=production.ttft_s,
                prompt_tokens=production.prompt_tokens,
                completion_tokens=production.completion_tokens,
                finish_reason=production.finish_reason.encode(),
            )
        )
    data: bytes = msg.SerializeToString()
    return data
