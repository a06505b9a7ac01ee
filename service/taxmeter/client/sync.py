"""The mirror client for non-async apps: ``AsyncMirrorClient`` on its own event loop in a
background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Self

import grpc

from taxmeter.client.aio import AsyncMirrorClient
from taxmeter.client.messages import ClientStats, ProductionInfo


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
            "buffer_size": buffer_size,
            "batch_max": batch_max,
            "flush_interval_s": flush_interval_s,
            "send_timeout_s": send_timeout_s,
            "backoff_initial_s": backoff_initial_s,
            "backoff_max_s": backoff_max_s,
            "credentials": credentials,
            "token": token,
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
        self._inner.mirror(
            body,
            route=route,
            category=category,
            request_id=request_id,
            production=production,
            force_sample=force_sample,
        )

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
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
