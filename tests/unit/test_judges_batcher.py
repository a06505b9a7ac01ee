"""The dynamic batcher with a fake handler, a fake clock and a controllable delay timer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from taxmeter.errors import JudgeInferenceError, JudgeNotReadyError, ShedError
from taxmeter.judges.batcher import DynamicBatcher


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


class ManualTimer:
    """Stands in for asyncio.sleep: the delay elapses only when the test fires it."""

    def __init__(self) -> None:
        self.requested: list[float] = []
        self._fired = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.requested.append(seconds)
        await self._fired.wait()
        self._fired.clear()

    def fire(self) -> None:
        self._fired.set()


class RecordingHandler:
    def __init__(self, fail_on: set[str] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.fail_on = fail_on or set()

    async def __call__(self, items: Sequence[str]) -> list[str]:
        self.batches.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_on & set(items):
            raise JudgeInferenceError("boom")
        return [s.upper() for s in items]


class RecordingObserver:
    def __init__(self) -> None:
        self.batches: list[tuple[int, list[float], bool]] = []
        self.shed: list[str] = []

    def on_batch(self, size: int, queue_waits_s: Sequence[float], ok: bool) -> None:
        self.batches.append((size, list(queue_waits_s), ok))

    def on_shed(self, reason: str) -> None:
        self.shed.append(reason)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def make(
    handler: RecordingHandler,
    *,
    timer: ManualTimer | None = None,
    clock: FakeClock | None = None,
    **kw: object,
) -> DynamicBatcher[str, str]:
    opts: dict[str, object] = {
        "max_batch_size": 4,
        "max_queue_delay_s": 0.005,
        "queue_size": 100,
    }
    opts.update(kw)
    return DynamicBatcher(
        handler,
        clock=clock or FakeClock(),
        sleep=(timer or ManualTimer()).sleep,
        **opts,  # type: ignore[arg-type]
    )


async def test_full_batch_is_dispatched_without_waiting_for_the_delay() -> None:
    handler, timer = RecordingHandler(), ManualTimer()
    b = make(handler, timer=timer)
    b.start()
    futs = [b.submit(s) for s in "abcd"]
    assert await asyncio.gather(*futs) == ["A", "B", "C", "D"]
    assert handler.batches == [["a", "b", "c", "d"]]
    await b.aclose()


async def test_partial_batch_waits_for_the_delay_then_goes() -> None:
    handler, timer = RecordingHandler(), ManualTimer()
    b = make(handler, timer=timer)
    b.start()
    futs = [b.submit("a"), b.submit("b")]
    await settle()
    assert handler.batches == []  # still inside the delay window
    assert timer.requested == [pytest.approx(0.005)]
    timer.fire()
    assert await asyncio.gather(*futs) == ["A", "B"]
    assert handler.batches == [["a", "b"]]
    await b.aclose()


async def test_delay_counts_from_the_first_item_arrival() -> None:
    handler, timer, clock = RecordingHandler(), ManualTimer(), FakeClock()
    b = make(handler, timer=timer, clock=clock, max_queue_delay_s=0.010)
    fut = b.submit("a")
    clock.now += 0.004  # the item has already waited 4 ms when the loop starts
    b.start()
    await settle()
    assert timer.requested == [pytest.approx(0.006)]
    timer.fire()
    assert await fut == "A"
    await b.aclose()


async def test_items_arriving_during_the_delay_join_the_batch_up_to_the_max() -> None:
    handler, timer = RecordingHandler(), ManualTimer()
    b = make(handler, timer=timer)
    b.start()
    first = b.submit("a")
    await settle()
    rest = [b.submit(s) for s in "bcdef"]  # fills the batch (a,b,c,d); e,f go next
    await settle()
    assert handler.batches[0] == ["a", "b", "c", "d"]
    timer.fire()
    assert await asyncio.gather(first, *rest) == list("ABCDEF")
    assert handler.batches == [["a", "b", "c", "d"], ["e", "f"]]
    await b.aclose()


async def test_queued_window_is_sorted_by_length_to_limit_padding() -> None:
    handler = RecordingHandler()
    b = make(handler, max_batch_size=2, sort_window_batches=2, length=len)
    for s in ["xxxx", "y", "zzzz", "w"]:
        b.submit(s)
    b.start()
    await settle()
    assert handler.batches == [["y", "w"], ["xxxx", "zzzz"]]
    await b.aclose()


async def test_failed_batch_fails_only_its_own_items() -> None:
    handler = RecordingHandler(fail_on={"bad"})
    obs = RecordingObserver()
    b = make(handler, max_batch_size=2, observer=obs)
    good1, bad = b.submit("ok1"), b.submit("bad")
    good2, good3 = b.submit("ok2"), b.submit("ok3")
    b.start()
    results = await asyncio.gather(good1, bad, good2, good3, return_exceptions=True)
    assert isinstance(results[0], JudgeInferenceError)  # same batch as "bad"
    assert isinstance(results[1], JudgeInferenceError)
    assert list(results[2:]) == ["OK2", "OK3"]
    stats = b.statistics()
    assert (stats.completed, stats.failed, stats.batches) == (2, 2, 2)
    assert [(size, ok) for size, _, ok in obs.batches] == [(2, False), (2, True)]
    await b.aclose()


async def test_wrong_result_count_fails_the_batch() -> None:
    async def short(items: Sequence[str]) -> list[str]:
        return ["only one"]

    b: DynamicBatcher[str, str] = DynamicBatcher(
        short, max_batch_size=4, max_queue_delay_s=0.0, queue_size=10
    )
    futs = [b.submit("a"), b.submit("b")]
    b.start()
    results = await asyncio.gather(*futs, return_exceptions=True)
    assert all(isinstance(r, JudgeInferenceError) for r in results)
    assert "1 results for 2 items" in str(results[0])
    await b.aclose()


async def test_unexpected_handler_exception_becomes_inference_error_and_loop_survives() -> None:
    calls = 0

    async def flaky(items: Sequence[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("driver hiccup")
        return list(items)

    b: DynamicBatcher[str, str] = DynamicBatcher(
        flaky, max_batch_size=1, max_queue_delay_s=0.0, queue_size=10
    )
    b.start()
    with pytest.raises(JudgeInferenceError, match="driver hiccup"):
        await b.submit("a")
    assert await b.submit("b") == "b"
    await b.aclose()


async def test_full_queue_sheds_with_judge_queue_full() -> None:
    obs = RecordingObserver()
    b = make(RecordingHandler(), queue_size=3, observer=obs)  # loop not started
    for s in "abc":
        b.submit(s)
    with pytest.raises(ShedError) as info:
        b.submit("d")
    assert info.value.reason == "judge_queue_full"
    assert b.statistics().shed == 1
    assert b.statistics().queued == 3
    assert obs.shed == ["queue_full"]
    await b.aclose(timeout_s=0.1)


async def test_queue_wait_is_measured_with_the_injected_clock() -> None:
    clock, obs = FakeClock(), RecordingObserver()
    b = make(RecordingHandler(), clock=clock, observer=obs, max_batch_size=2)
    f1 = b.submit("a")
    clock.now += 0.25
    f2 = b.submit("b")
    clock.now += 0.5
    b.start()
    await asyncio.gather(f1, f2)
    assert obs.batches[0][1] == [pytest.approx(0.75), pytest.approx(0.5)]
    await b.aclose()


async def test_in_flight_batches_are_bounded() -> None:
    handler = RecordingHandler()
    handler.gate = asyncio.Event()
    b = make(handler, max_batch_size=1, max_concurrent_batches=2)
    futs = [b.submit(s) for s in "abcd"]
    b.start()
    await settle()
    assert len(handler.batches) == 2
    assert b.statistics().in_flight_batches == 2
    handler.gate.set()
    assert await asyncio.gather(*futs) == list("ABCD")
    await b.aclose()


async def test_close_drains_queued_items_then_refuses_new_ones() -> None:
    handler = RecordingHandler()
    timer = ManualTimer()
    b = make(handler, timer=timer)
    b.start()
    futs = [b.submit("a"), b.submit("b")]
    await b.aclose(timeout_s=1.0)  # closing skips the delay
    assert [f.result() for f in futs] == ["A", "B"]
    with pytest.raises(JudgeNotReadyError) as info:
        b.submit("c")
    assert info.value.reason == "closed"


async def test_close_timeout_fails_stuck_and_queued_items_as_closed() -> None:
    handler = RecordingHandler()
    handler.gate = asyncio.Event()  # never opened: the batch hangs
    b = make(handler, max_batch_size=1)
    b.start()
    stuck = b.submit("a")
    await settle()
    queued = b.submit("b")
    await b.aclose(timeout_s=0.05)
    for fut in (stuck, queued):
        with pytest.raises(JudgeNotReadyError):
            fut.result()
    assert b.statistics().queued == 0


async def test_cancelled_caller_is_skipped_in_the_batch() -> None:
    handler = RecordingHandler()
    b = make(handler, max_batch_size=2)
    gone, kept = b.submit("gone"), b.submit("kept")
    gone.cancel()
    b.start()
    assert await kept == "KEPT"
    assert handler.batches == [["kept"]]
    await b.aclose()
