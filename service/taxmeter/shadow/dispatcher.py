"""The shadow dispatcher: a bounded queue and a pool of workers sending each job to both arms.

Accounting (with ``telemetry.ledger``): the sampler calls ``try_enqueue`` and, when it returns
True, ``ledger.admit(..., SAMPLED)`` in the same synchronous step on the event loop, so that a
worker (on the same loop) cannot take the job before it is counted as queued. From then on the
dispatcher owns the job: ``job_started`` when a worker takes it, and exactly one
``job_finished`` — completed (the sink accepted the pair), failed (an arm did not answer, or the
sink broke) or shed (the sink raised ``ShedError``, or ``drain`` ran out of time: ``shutdown``).

``try_enqueue`` must be called from the event loop thread that runs the workers.

Fair latency: each arm has a slot limit (``max_in_flight``); a job takes a slot on every arm it
calls before sending anything, so the pair's two calls leave together. Each call records the
most of taxmeter's calls in flight to its arm while it ran; a pair whose arm went over its
``comparable_in_flight`` bound is complete (judged) but not latency-comparable
(``latency_excluded="saturated"``): the endpoint was queueing taxmeter's own calls, so its
latency measures the shadow load, not the guard. The noise-floor repeat is sent after the pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, replace
from typing import NamedTuple
from urllib.parse import urlsplit

import structlog
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from taxmeter.errors import ShedError
from taxmeter.shadow.body import request_model
from taxmeter.shadow.config import EndpointConfig, ShadowConfig
from taxmeter.shadow.endpoint import ModelEndpoint
from taxmeter.shadow.metrics import ShadowMetrics, finish_reason_label
from taxmeter.shadow.pair_parts import AnswerTokens, ArmLoad, production_result
from taxmeter.shadow.prompt import judge_prompt
from taxmeter.shadow.tokens import TokenCounter
from taxmeter.telemetry.ledger import Ledger
from taxmeter.types import (
    Arm,
    ArmOutcome,
    ArmResult,
    Clock,
    JobOutcome,
    MirrorRequest,
    PairSink,
    ShadowPair,
)

log = structlog.get_logger("taxmeter.shadow")

SHUTDOWN = "shutdown"
"""Answers longer than this are counted by the tokenizer in a thread."""


class DispatcherStatistics(NamedTuple):
    queue_size: int
    queued: int
    in_flight: int
    workers: int
    enqueued: int
    refused_full: int
    completed: int
    failed: int
    shed: int
    draining: bool


@dataclass(slots=True)
class _Job:
    request: MirrorRequest
    enqueued_at: float
    finished: bool = False


class ShadowDispatcher:
    def __init__(
        self,
        config: ShadowConfig,
        guarded: ModelEndpoint,
        unguarded: ModelEndpoint,
        sink: PairSink,
        ledger: Ledger,
        metrics: ShadowMetrics,
        *,
        tracer: trace.Tracer,
        clock: Clock,
        rng: random.Random | None = None,
        token_counter: TokenCounter | None = None,
    ) -> None:
        self._config = config
        self._endpoints = {Arm.GUARDED: guarded, Arm.UNGUARDED: unguarded}
        self._arm_config: dict[Arm, EndpointConfig] = {
            Arm.GUARDED: config.guarded,
            Arm.UNGUARDED: config.unguarded,
        }
        self._sink = sink
        self._ledger = ledger
        self._metrics = metrics
        self._tracer = tracer
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._answer_tokens = AnswerTokens(token_counter)
        self._load = {
            arm: ArmLoad(asyncio.Semaphore(cfg.max_in_flight or config.concurrency))
            for arm, cfg in self._arm_config.items()
        }
        for arm in Arm:
            metrics.in_flight.labels(arm.value).set(0)
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=config.queue_size)
        self._workers: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._draining = False
        self._next_repeat_arm = Arm.GUARDED
        self._enqueued = 0
        self._refused_full = 0
        self._outcomes = dict.fromkeys(JobOutcome, 0)

    # -- the sampler's side --------------------------------------------------------------

    def try_enqueue(self, request: MirrorRequest) -> bool:
        """Queue a job without blocking; False when the queue is full or draining."""
        if self._draining:
            return False
        try:
            self._queue.put_nowait(_Job(request, self._clock.monotonic()))
        except asyncio.QueueFull:
            self._refused_full += 1
            return False
        self._enqueued += 1
        return True

    def load(self) -> float:
        """Queue fill in [0, 1], for adaptive sampling."""
        return min(1.0, self._queue.qsize() / self._config.queue_size)

    def statistics(self) -> DispatcherStatistics:
        return DispatcherStatistics(
            queue_size=self._config.queue_size,
            queued=self._queue.qsize(),
            in_flight=self._in_flight,
            workers=sum(1 for w in self._workers if not w.done()),
            enqueued=self._enqueued,
            refused_full=self._refused_full,
            completed=self._outcomes[JobOutcome.COMPLETED],
            failed=self._outcomes[JobOutcome.FAILED],
            shed=self._outcomes[JobOutcome.SHED],
            draining=self._draining,
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._workers or self._draining:
            return
        self._workers = [
            asyncio.create_task(self._worker(), name=f"taxmeter-shadow-worker-{i}")
            for i in range(self._config.concurrency)
        ]

    async def drain(self, grace_s: float | None = None) -> None:
        """Stop taking jobs; let queued and in-flight ones finish within ``grace_s``; shed the
        rest (reason ``shutdown``), each exactly once."""
        grace = self._config.drain_grace_s if grace_s is None else grace_s
        self._draining = True
        if self._workers:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._queue.join()
            for worker in self._workers:
                worker.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            self._workers = []
        while not self._queue.empty():
            job = self._queue.get_nowait()
            self._finish(job, JobOutcome.SHED, shed_reason=SHUTDOWN, from_queue=True)
            self._queue.task_done()
        log.info("shadow_drained", **self.statistics()._asdict())

    # -- workers -------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            job = await self._queue.get()
            # No await between get() and job_started: a cancel cannot land in between.
            self._ledger.job_started(job.request.route)
            self._in_flight += 1
            try:
                await self._run(job)
            except asyncio.CancelledError:
                self._finish(job, JobOutcome.SHED, shed_reason=SHUTDOWN)
                raise
            except Exception:
                log.exception("shadow_job_internal_error", route=job.request.route)
                self._finish(job, JobOutcome.FAILED)
            finally:
                self._in_flight -= 1
                self._queue.task_done()

    def _finish(
        self,
        job: _Job,
        outcome: JobOutcome,
        *,
        shed_reason: str | None = None,
        from_queue: bool = False,
    ) -> None:
        if job.finished:
            return
        job.finished = True
        self._outcomes[outcome] += 1
        self._ledger.job_finished(
            job.request.route, outcome, shed_reason=shed_reason, from_queue=from_queue
        )

    async def _run(self, job: _Job) -> None:  # noqa: PLR0915 (one job, start to hand-off)
        request = job.request
        route = request.route
        self._metrics.queue_wait.labels(route).observe(
            max(0.0, self._clock.monotonic() - job.enqueued_at)
        )
        with self._tracer.start_as_current_span(
            "taxmeter.shadow_job",
            attributes={"taxmeter.route": route, "taxmeter.transport": request.transport.value},
        ) as span:
            ctx = span.get_span_context()
            trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None

            reused = self._reused_arm(request)
            arms = [a for a in Arm if a is not reused]
            async with contextlib.AsyncExitStack() as slots:
                for arm in arms:  # always in Arm order: two jobs never wait on each other
                    await slots.enter_async_context(self._load[arm].slots)
                calls = await asyncio.gather(*(self._call(arm, request, False) for arm in arms))
            by_arm: dict[Arm, ArmResult] = {}
            saturated = False
            for arm, (result, peak) in zip(arms, calls, strict=True):
                by_arm[arm] = result
                bound = self._arm_config[arm].comparable_in_flight
                saturated = saturated or (bound is not None and peak > bound)
            repeat: ArmResult | None = None
            if self._config.noise_floor_rate > 0 and (
                self._rng.random() < self._config.noise_floor_rate
            ):
                repeat_arm = self._repeat_arm(reused)
                async with self._load[repeat_arm].slots:
                    repeat, _ = await self._call(repeat_arm, request, True)
            if reused is not None:
                by_arm[reused] = production_result(request, reused)
                self._metrics.observe(route, by_arm[reused])

            incomplete = [r for r in by_arm.values() if not r.answered]
            span.set_attribute("taxmeter.complete", not incomplete)
            if incomplete:
                for r in incomplete:
                    self._ledger.pair_incomplete(route, r.arm, r.error_reason or r.outcome.value)
                self._finish(job, JobOutcome.FAILED)
                return
            if self._config.length_answers == "exclude" and any(
                r.finish_reason == "length" for r in by_arm.values()
            ):
                span.set_attribute("taxmeter.shed_reason", "finish_length")
                self._finish(job, JobOutcome.SHED, shed_reason="finish_length")
                return
            await self._answer_tokens.same_source(by_arm)
            excluded: str | None = None
            if reused is not None:
                self._metrics.latency_excluded.labels(route, "production_reused").inc()
            elif saturated:
                excluded = "saturated"
                self._metrics.latency_excluded.labels(route, excluded).inc()

            pair = ShadowPair(
                request_id=request.request_id,
                route=route,
                category=request.category,
                prompt=judge_prompt(request.body),
                guarded=by_arm[Arm.GUARDED],
                unguarded=by_arm[Arm.UNGUARDED],
                repeat=repeat if repeat is not None and repeat.answered else None,
                trace_id=trace_id,
                latency_excluded=excluded,
            )
            try:
                await self._sink.accept(pair)
            except ShedError as exc:
                span.set_attribute("taxmeter.shed_reason", exc.reason)
                self._finish(job, JobOutcome.SHED, shed_reason=exc.reason)
                return
            except Exception as exc:
                self._metrics.sink_errors.labels(route).inc()
                span.set_status(Status(StatusCode.ERROR, "sink_error"))
                log.error("pair_sink_error", route=route, error_type=type(exc).__name__)
                self._finish(job, JobOutcome.FAILED)
                return
            self._finish(job, JobOutcome.COMPLETED)

    def _reused_arm(self, request: MirrorRequest) -> Arm | None:
        production = request.production
        if production is None or self._config.production_arm == "none":
            return None
        if not production.text and production.finish_reason != "content_filter":
            return None  # nothing to judge (e.g. a tool-call-only answer): call the arm instead
        return production.arm if production.arm.value == self._config.production_arm else None

    def _repeat_arm(self, reused: Arm | None) -> Arm:
        """Alternate the repeated arm between jobs; never the reused one (not called)."""
        arm = self._next_repeat_arm
        self._next_repeat_arm = Arm.UNGUARDED if arm is Arm.GUARDED else Arm.GUARDED
        if arm is reused:
            arm = Arm.UNGUARDED if arm is Arm.GUARDED else Arm.GUARDED
        return arm

    async def _call(
        self, arm: Arm, request: MirrorRequest, is_repeat: bool
    ) -> tuple[ArmResult, int]:
        """One call (the caller holds a slot of the arm): its result and its load peak."""
        config = self._arm_config[arm]
        model = request_model(config, request)
        url = urlsplit(config.base_url)
        attributes: dict[str, str | int | bool] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": config.provider,
            "gen_ai.system": config.provider,
            "taxmeter.arm": arm.value,
            "taxmeter.route": request.route,
            "taxmeter.repeat": is_repeat,
            "server.address": url.hostname or "",
        }
        if url.port is not None:
            attributes["server.port"] = url.port
        if model is not None:
            attributes["gen_ai.request.model"] = model
        with self._tracer.start_as_current_span(
            f"chat {model}" if model else "chat",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
        ) as span:
            load = self._load[arm]
            call = load.begin()
            gauge = self._metrics.in_flight.labels(arm.value)
            gauge.set(len(load.active))
            try:
                result = await self._endpoints[arm].complete(request)
            except Exception as exc:  # a client bug must not lose the job's accounting
                log.error("shadow_endpoint_raised", arm=arm.value, error_type=type(exc).__name__)
                result = ArmResult(arm=arm, outcome=ArmOutcome.ERROR, error_reason="internal")
            finally:
                load.active.discard(call)
                gauge.set(len(load.active))
            if result.arm is not arm:  # a misbehaving endpoint must not corrupt the pair
                result = replace(result, arm=arm)
            result = await self._answer_tokens.counted(result)
            span.set_attribute("taxmeter.in_flight_peak", call.peak)
            span.set_attribute("taxmeter.outcome", result.outcome.value)
            if result.finish_reason is not None:
                # the endpoint's string, bounded like the metric label (never raw model output)
                span.set_attribute(
                    "gen_ai.response.finish_reasons", [finish_reason_label(result.finish_reason)]
                )
            if result.prompt_tokens is not None:
                span.set_attribute("gen_ai.usage.input_tokens", result.prompt_tokens)
            if result.completion_tokens is not None:
                span.set_attribute("gen_ai.usage.output_tokens", result.completion_tokens)
            if result.status_code is not None:
                span.set_attribute("http.response.status_code", result.status_code)
            if not result.answered:
                span.set_attribute("error.type", result.error_reason or result.outcome.value)
                span.set_status(Status(StatusCode.ERROR, result.error_reason))
            ctx = span.get_span_context()
            trace_id = format(ctx.trace_id, "032x") if span.is_recording() else None
            self._metrics.observe(
                request.route, result, trace_id=trace_id, distributions=not is_repeat
            )
            return result, call.peak
