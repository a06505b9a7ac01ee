"""A dynamic batcher: many concurrent ``submit(item)`` calls become few ``handler(batch)`` calls.

Modelled on Ray Serve's ``_BatchQueue`` (size-or-timeout batches, per-item futures, a result
count check) and OpenTelemetry's ``BatchProcessor`` (bounded deque, wake-up event, counted
drops, shutdown with a timeout). The ``run()`` loop sleeps on an ``asyncio.Event`` (never a
polling tick): it waits for a first item, then up to ``max_queue_delay_s`` or until
``max_batch_size`` items are queued. When more than a batch is waiting it takes a window of up
to ``sort_window_batches`` batches, sorts it by item length and cuts it into batches, so that
similar lengths share a batch (less padding). At most ``max_concurrent_batches`` handler calls
run at once; a failed batch fails only its own items.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, Protocol, TypeVar

from taxmeter.errors import JudgeInferenceError, JudgeNotReadyError, ShedError, TaxmeterError
from taxmeter.types import Clock, SystemClock

__all__ = ["BatchObserver", "BatcherStatistics", "DynamicBatcher"]

T = TypeVar("T")
R = TypeVar("R")


class BatcherStatistics(NamedTuple):
    queued: int
    """Items waiting (not yet in a batch)."""
    in_flight_batches: int
    submitted: int
    completed: int
    """Items that got a result."""
    failed: int
    """Items that got an error from their batch."""
    shed: int
    """Items refused because the queue was full (or the batcher closed)."""
    batches: int
    queue_size: int


class BatchObserver(Protocol):
    """Told about every batch (for metrics); must be cheap and never raise."""

    def on_batch(self, size: int, queue_waits_s: Sequence[float], ok: bool) -> None: ...

    def on_shed(self, reason: str) -> None: ...


@dataclass(slots=True)
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    enqueued: float
    length: int = field(default=0)


class DynamicBatcher(Generic[T, R]):
    def __init__(
        self,
        handler: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch_size: int,
        max_queue_delay_s: float,
        queue_size: int,
        max_concurrent_batches: int = 1,
        sort_window_batches: int = 4,
        length: Callable[[T], int] | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        observer: BatchObserver | None = None,
    ) -> None:
        if max_batch_size < 1 or queue_size < 1 or max_concurrent_batches < 1:
            raise ValueError("max_batch_size, queue_size and max_concurrent_batches must be >= 1")
        if max_queue_delay_s < 0 or sort_window_batches < 1:
            raise ValueError("max_queue_delay_s must be >= 0 and sort_window_batches >= 1")
        self._handler = handler
        self._max_batch = max_batch_size
        self._delay_s = max_queue_delay_s
        self._queue_size = queue_size
        self._window = max_batch_size * sort_window_batches
        self._length = length
        self._clock: Clock = clock or SystemClock()
        self._sleep = sleep or asyncio.sleep
        self._observer = observer
        self._queue: deque[_Pending[T, R]] = deque()
        self._ready: deque[list[_Pending[T, R]]] = deque()  # cut from a sorted window
        self._nonempty = asyncio.Event()
        self._full = asyncio.Event()
        self._slots = asyncio.Semaphore(max_concurrent_batches)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._submitted = self._completed = self._failed = self._shed = self._batches = 0

    # -- public -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the ``run()`` loop as a task on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run())

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue one item; await the returned future for its result.

        Raises ``ShedError("judge_queue_full")`` when ``queue_size`` items are waiting, and
        ``JudgeNotReadyError("closed")`` after ``aclose()``.
        """
        if self._closing:
            self._shed += 1
            self._notify_shed("closed")
            raise JudgeNotReadyError("closed", "the judge batcher is closed")
        if len(self._queue) >= self._queue_size:
            self._shed += 1
            self._notify_shed("queue_full")
            raise ShedError("judge_queue_full", f"{self._queue_size} items already queued")
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        length = self._length(item) if self._length is not None else 0
        self._queue.append(_Pending(item, fut, self._clock.monotonic(), length))
        self._submitted += 1
        self._nonempty.set()
        if len(self._queue) >= self._max_batch:
            self._full.set()
        return fut

    def statistics(self) -> BatcherStatistics:
        return BatcherStatistics(
            queued=len(self._queue) + sum(len(b) for b in self._ready),
            in_flight_batches=len(self._in_flight),
            submitted=self._submitted,
            completed=self._completed,
            failed=self._failed,
            shed=self._shed,
            batches=self._batches,
            queue_size=self._queue_size,
        )

    @property
    def queue_depth(self) -> int:
        # Read from the metrics thread: tuple() copies the deque atomically (under the GIL), so
        # the event loop's popleft()/extend() cannot mutate it mid-iteration.
        return len(self._queue) + sum(len(b) for b in tuple(self._ready))

    async def run(self) -> None:
        """Form batches and hand them to the handler until ``aclose()``; drains on close."""
        while True:
            await self._slots.acquire()
            try:
                batch = await self._next_batch()
            except BaseException:
                self._slots.release()
                raise
            if batch is None:
                self._slots.release()
                break
            task = asyncio.get_running_loop().create_task(self._execute(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._batch_done)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Stop accepting items, run what is queued for up to ``timeout_s``, then fail the
        rest with ``JudgeNotReadyError("closed")``."""
        self._closing = True
        self._nonempty.set()
        self._full.set()
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout_s)
            except TimeoutError:
                task.cancel()
                for t in list(self._in_flight):
                    t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                if self._in_flight:
                    await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._fail_all_queued(JudgeNotReadyError("closed", "the judge batcher closed"))

    # -- internals ----------------------------------------------------------------------

    async def _next_batch(self) -> list[_Pending[T, R]] | None:
        if self._ready:
            return self._ready.popleft()
        while not self._queue:
            if self._closing:
                return None
            self._nonempty.clear()
            await self._nonempty.wait()
        if len(self._queue) < self._max_batch and not self._closing:
            remaining = self._queue[0].enqueued + self._delay_s - self._clock.monotonic()
            if remaining > 0:
                await self._wait_full(remaining)
        n = min(
            len(self._queue),
            self._window if len(self._queue) > self._max_batch else self._max_batch,
        )
        window = [self._queue.popleft() for _ in range(n)]
        if len(window) > self._max_batch and self._length is not None:
            window.sort(key=lambda p: p.length)  # stable: FIFO among equal lengths
        batches = [window[i : i + self._max_batch] for i in range(0, n, self._max_batch)]
        self._ready.extend(batches[1:])
        return batches[0]

    async def _wait_full(self, timeout_s: float) -> None:
        """Wait until a full batch is queued, the batcher closes, or ``timeout_s`` passes."""
        self._full.clear()
        if len(self._queue) >= self._max_batch or self._closing:
            return
        full = asyncio.ensure_future(self._full.wait())
        timer = asyncio.ensure_future(self._sleep(timeout_s))
        try:
            await asyncio.wait((full, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            full.cancel()
            timer.cancel()

    async def _execute(self, batch: list[_Pending[T, R]]) -> None:
        live = [p for p in batch if not p.future.done()]  # a caller may have given up
        if not live:
            return
        now = self._clock.monotonic()
        waits = [now - p.enqueued for p in live]
        self._batches += 1
        try:
            results = await self._handler([p.item for p in live])
            if len(results) != len(live):
                raise JudgeInferenceError(
                    f"batch handler returned {len(results)} results for {len(live)} items"
                )
        except asyncio.CancelledError:
            self._fail(live, JudgeNotReadyError("closed", "the judge batcher closed"))
            self._notify_batch(len(live), waits, ok=False)
            raise
        except TaxmeterError as exc:
            self._fail(live, exc)
            self._notify_batch(len(live), waits, ok=False)
            return
        except Exception as exc:  # a handler bug must fail its batch, not kill the loop
            err = JudgeInferenceError(f"batch failed: {type(exc).__name__}: {exc}")
            err.__cause__ = exc
            self._fail(live, err)
            self._notify_batch(len(live), waits, ok=False)
            return
        for p, r in zip(live, results, strict=True):
            if not p.future.done():
                p.future.set_result(r)
        self._completed += len(live)
        self._notify_batch(len(live), waits, ok=True)

    def _fail(self, items: Sequence[_Pending[T, R]], exc: BaseException) -> None:
        for p in items:
            if not p.future.done():
                p.future.set_exception(exc)
        self._failed += len(items)

    def _fail_all_queued(self, exc: BaseException) -> None:
        leftovers = [p for b in self._ready for p in b] + list(self._queue)
        self._ready.clear()
        self._queue.clear()
        if leftovers:
            self._fail(leftovers, exc)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.release()

    def _notify_batch(self, size: int, waits: Sequence[float], *, ok: bool) -> None:
        if self._observer is not None:
            self._observer.on_batch(size, waits, ok)

    def _notify_shed(self, reason: str) -> None:
        if self._observer is not None:
            self._observer.on_shed(reason)
