"""Sending prompts to both arms: bounded concurrency, a rate limit, retries, judging behind.

``ReplayRunner.run(items)`` keeps ``concurrency`` prompts in flight; each sends the same body to
both arms at once through the sidecar's ``ModelEndpoint`` clients (so each endpoint sees at
most ``concurrency`` calls), retries an arm whose call failed in a way that may pass on a second
try (timeouts, connection errors, HTTP 408/425/429/5xx, cut-off streams), and hands the
complete pair to the sidecar's ``JudgingSink`` through a bounded queue, judged by separate
tasks so that judging does not hold an endpoint slot. A prompt whose arm still fails is logged
``failed`` with the reason; a pair the judges shed is logged ``shed``.

A small share of prompts (``noise_floor_rate``, chosen by a hash of the index, so the same ones
on a resumed run) calls one arm twice for the noise floor, as the sidecar does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from taxmeter.errors import ShedError
from taxmeter.replay.prompts import PromptItem
from taxmeter.replay.store import JsonlLog, arm_to_json
from taxmeter.shadow.endpoint import ModelEndpoint
from taxmeter.shadow.prompt import judge_prompt
from taxmeter.types import Arm, ArmOutcome, ArmResult, MirrorRequest, PairSink, ShadowPair

_RETRY_STATUS = frozenset({408, 409, 425, 429})
_FINAL_REASONS = frozenset({"empty_answer", "response_too_large"})  # the same on every try


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    concurrency: int = 8
    rate_per_s: float | None = None
    retries: int = 2
    retry_initial_s: float = 0.5
    retry_max_s: float = 10.0
    noise_floor_rate: float = 0.02
    judge_tasks: int = 32

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if self.rate_per_s is not None and self.rate_per_s <= 0:
            raise ValueError("rate_per_s must be > 0")
        if self.retries < 0:
            raise ValueError("retries must be >= 0")
        if not 0.0 <= self.noise_floor_rate <= 1.0:
            raise ValueError("noise_floor_rate must be in [0, 1]")


class TokenBucket:
    """``rate`` starts per second, bursts of at most ``burst``; ``acquire`` sleeps exactly as
    long as the next token needs (no polling)."""

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._rate = rate
        self._burst = max(1.0, burst)
        self._tokens = self._burst
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens < 1.0:
                await self._sleep((1.0 - self._tokens) / self._rate)
                now = self._clock()
                self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
                self._last = now
            self._tokens -= 1.0


def retryable(result: ArmResult) -> bool:
    """Whether a failed call may pass on another try."""
    if result.answered or result.error_reason in _FINAL_REASONS:
        return False
    if result.outcome is ArmOutcome.TIMEOUT:
        return True
    code = result.status_code
    if code is None or code < 400:  # no answer, or it broke after the status (a cut stream)
        return True
    return code >= 500 or code in _RETRY_STATUS


def noise_repeat_arm(index: int, rate: float) -> Arm | None:
    """The arm called twice for prompt ``index`` (a hash decides; same on every run)."""
    if rate <= 0:
        return None
    h = hashlib.blake2b(f"noise:{index}".encode(), digest_size=8).digest()
    if int.from_bytes(h, "big") / 2**64 >= rate:
        return None
    return Arm.GUARDED if index % 2 == 0 else Arm.UNGUARDED


@dataclass(slots=True)
class RunCounts:
    scored: int = 0
    failed: int = 0
    shed: int = 0
    retries: int = 0


class ReplayRunner:
    def __init__(
        self,
        guarded: ModelEndpoint,
        unguarded: ModelEndpoint,
        sink: PairSink,
        log: JsonlLog,
        options: ReplayOptions,
        *,
        record: JsonlLog | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self._endpoints = {Arm.GUARDED: guarded, Arm.UNGUARDED: unguarded}
        self._sink = sink
        self._log = log
        self._record = record
        self._options = options
        self._on_done = on_done or (lambda: None)
        self._bucket = (
            TokenBucket(options.rate_per_s, burst=min(options.concurrency, options.rate_per_s))
            if options.rate_per_s is not None
            else None
        )
        self._rng = random.Random(0)
        self.counts = RunCounts()

    async def run(self, items: Sequence[PromptItem]) -> RunCounts:
        """Replay ``items`` (those not yet in the log); returns what happened to them."""
        todo: asyncio.Queue[PromptItem | None] = asyncio.Queue()
        for item in items:
            todo.put_nowait(item)
        opts = self._options
        judging: asyncio.Queue[ShadowPair | None] = asyncio.Queue(maxsize=2 * opts.judge_tasks)
        senders = [
            asyncio.create_task(self._sender(todo, judging)) for _ in range(opts.concurrency)
        ]
        judges = [asyncio.create_task(self._judge(judging)) for _ in range(opts.judge_tasks)]
        try:
            for _ in senders:
                todo.put_nowait(None)
            await asyncio.gather(*senders)
            for _ in judges:
                await judging.put(None)
            await asyncio.gather(*judges)
        finally:
            for t in (*senders, *judges):
                t.cancel()
            await asyncio.gather(*senders, *judges, return_exceptions=True)
        return self.counts

    async def judge_only(self, pairs: Iterable[ShadowPair]) -> RunCounts:
        """Judge recorded pairs again (``--from-record``): no endpoint is called."""
        opts = self._options
        judging: asyncio.Queue[ShadowPair | None] = asyncio.Queue(maxsize=2 * opts.judge_tasks)
        judges = [asyncio.create_task(self._judge(judging)) for _ in range(opts.judge_tasks)]
        try:
            for pair in pairs:
                await judging.put(pair)
            for _ in judges:
                await judging.put(None)
            await asyncio.gather(*judges)
        finally:
            for t in judges:
                t.cancel()
            await asyncio.gather(*judges, return_exceptions=True)
        return self.counts

    async def _sender(
        self, todo: asyncio.Queue[PromptItem | None], judging: asyncio.Queue[ShadowPair | None]
    ) -> None:
        while True:
            item = await todo.get()
            if item is None:
                return
            if self._bucket is not None:
                await self._bucket.acquire()
            pair_or_reason = await self._shadow(item)
            if isinstance(pair_or_reason, ShadowPair):
                await judging.put(pair_or_reason)
            else:
                self._finish(item.index, item, "failed", pair_or_reason)

    async def _shadow(self, item: PromptItem) -> ShadowPair | tuple[str, list[ArmResult]]:
        raw = json.dumps(item.body, separators=(",", ":"), ensure_ascii=False).encode()
        request = MirrorRequest(
            request_id=str(item.index),
            route=item.route,
            category=item.category,
            body=item.body,
            raw_body=raw,
            force_sample=True,
        )
        calls: list[tuple[Arm, bool]] = [(Arm.GUARDED, False), (Arm.UNGUARDED, False)]
        rep = noise_repeat_arm(item.index, self._options.noise_floor_rate)
        if rep is not None:
            calls.append((rep, True))
        results = await asyncio.gather(*(self._call(arm, request) for arm, _ in calls))
        by_arm = {arm: r for (arm, is_rep), r in zip(calls, results, strict=True) if not is_rep}
        repeat = next((r for (_, is_rep), r in zip(calls, results, strict=True) if is_rep), None)
        failed = [r for r in by_arm.values() if not r.answered]
        if failed:
            reason = ",".join(f"{r.arm.value}:{r.error_reason or r.outcome.value}" for r in failed)
            return reason, list(by_arm.values())
        return ShadowPair(
            request_id=str(item.index),
            route=item.route,
            category=item.category,
            prompt=judge_prompt(item.body),
            guarded=by_arm[Arm.GUARDED],
            unguarded=by_arm[Arm.UNGUARDED],
            repeat=repeat if repeat is not None and repeat.answered else None,
        )

    async def _call(self, arm: Arm, request: MirrorRequest) -> ArmResult:
        endpoint = self._endpoints[arm]
        delay = self._options.retry_initial_s
        attempt = 0
        while True:
            try:
                result = await endpoint.complete(request)
            except Exception:  # a client bug must not stop the run: counted as a failure
                result = ArmResult(arm=arm, outcome=ArmOutcome.ERROR, error_reason="internal")
            if attempt >= self._options.retries or not retryable(result):
                return result
            attempt += 1
            self.counts.retries += 1
            await asyncio.sleep(delay * (0.5 + self._rng.random() / 2))
            delay = min(self._options.retry_max_s, delay * 2)

    async def _judge(self, judging: asyncio.Queue[ShadowPair | None]) -> None:
        while True:
            pair = await judging.get()
            if pair is None:
                return
            try:
                await self._sink.accept(pair)  # the observer logs the scored pair
            except ShedError as exc:
                self._finish(int(pair.request_id), pair, "shed", (exc.reason, []))
            else:
                self.counts.scored += 1
                self._on_done()

    def _finish(
        self,
        index: int,
        what: PromptItem | ShadowPair,
        status: str,
        reason: tuple[str, list[ArmResult]] | str,
    ) -> None:
        text, arms = reason if isinstance(reason, tuple) else (reason, [])
        entry = {
            "i": index,
            "route": what.route,
            "category": what.category,
            "status": status,
            "reason": text,
            "arms": {r.arm.value: arm_to_json(r, with_text=False) for r in arms},
        }
        if self._record is not None:
            self._record.append(entry)
        self._log.append(entry)
        if status == "failed":
            self.counts.failed += 1
        else:
            self.counts.shed += 1
        self._on_done()
