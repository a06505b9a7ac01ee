"""The judge engine: every judge of a repository behind one ``Scorer``.

Per judge: a ``DynamicBatcher`` whose handler (``judges/handler.py``) tokenises a batch (in the
bounded pool), runs it on the judge's ``InferenceBackend`` and maps the outputs to calibrated
head scores. ``score`` fans one ``JudgeInput`` out to every judge and merges the heads, keyed
``"<judge>.<head>"``.

Lifecycle: ``start()`` returns at once and loads, validates and warms every judge in the
background; ``ready`` turns True when every judge has run a warm-up batch, and until then
``score()`` raises ``JudgeNotReadyError`` (callers shed and count). ``wait_ready()`` waits for
that and re-raises a load error. ``aclose()`` cancels a warm-up still going and drains the
batchers.

Warm-up against a backend that is *unavailable* (a remote pool not up yet, its breaker open, or
a batch that failed on a backend with ``transient_failures``) is retried in the background with
capped exponential backoff (``warmup_retry_initial_s`` .. ``warmup_retry_max_s``; the backend's
``wait_healthy`` wakes the retry as soon as it is healthy), so a sidecar that starts before its
judge pool recovers by itself. Meanwhile ``score()`` raises ``JudgeNotReadyError`` with the
backend's reason (``backend_unavailable``, ``breaker_open``, ``backend_error``). A load error
(manifest, tensor or remote metadata mismatch: the backend's ``load_error``) or a failing
warm-up batch on a backend without ``transient_failures`` (in-process) is final:
``load_failed``, logged once as ``judge_load_failed`` naming the judge.

Once ready, ``score()`` still checks every judge's backend first and fails fast with
``JudgeNotReadyError(reason)`` while one is down (a remote pool gone, its breaker open), without
queueing or tokenising. ``taxmeter_judge_ready`` is read at scrape time: 1 while the judge is
warm *and* its backend ready. Reasons (bounded): ``warming_up``, ``load_failed``, ``closed``,
``backend_error`` and the backend's own (``InferenceBackend.not_ready_reason``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import structlog
from prometheus_client import CollectorRegistry

from taxmeter.errors import (
    ConfigError,
    JudgeError,
    JudgeInferenceError,
    JudgeLoadError,
    JudgeNotReadyError,
)
from taxmeter.judges.backends import BackendFactoryMaker, backend_factory_maker
from taxmeter.judges.batcher import BatcherStatistics, DynamicBatcher
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.judges.handler import BatchHandler, batch_handler
from taxmeter.judges.metrics import JudgeMetrics
from taxmeter.judges.repository import LoadedJudge, load_repository
from taxmeter.resilience import Backoff
from taxmeter.types import Clock, HeadKey, HeadScore, JudgeInput, JudgeScores, SystemClock

__all__ = ["BackendFactoryMaker", "HeadInfo", "JudgeEngine"]

_log = structlog.get_logger("taxmeter.judges")

_WARMUP_ITEM = JudgeInput(prompt="Hello, can you help me?", response="Sure, here is how.")


class HeadInfo(NamedTuple):
    """One head as the rest of the app sees it (to find e.g. the quality head by role)."""

    key: HeadKey
    judge: str
    head: str
    role: str
    threshold: float


class JudgeEngine:
    """Implements ``taxmeter.types.Scorer``."""

    def __init__(
        self,
        judges: Sequence[LoadedJudge],
        config: JudgeEngineConfig,
        registry: CollectorRegistry,
        *,
        clock: Clock | None = None,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        if not judges:
            raise ConfigError("judges.repository", "the judge engine needs at least one judge")
        names = [j.name for j in judges]
        if len(set(names)) != len(names):
            raise ConfigError("judges.repository", f"duplicate judge names in {names}")
        self._judges = list(judges)
        self._config = config
        self._clock: Clock = clock or SystemClock()
        self._metrics = JudgeMetrics(registry)
        self._owns_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_workers=config.inference_threads, thread_name_prefix="taxmeter-judge"
        )
        self._batchers: dict[str, DynamicBatcher[JudgeInput, dict[HeadKey, HeadScore]]] = {}
        self._ready = False
        self._closed = False
        self._load_error: BaseException | None = None
        self._start_task: asyncio.Task[None] | None = None
        self._warm: dict[str, bool] = {j.name: False for j in judges}
        self._waiting: dict[str, str] = {}  # judge -> why its warm-up is being retried
        self._heads = tuple(
            HeadInfo(f"{j.name}.{h.name}", j.name, h.name, h.role, h.threshold)
            for j in self._judges
            for h in j.manifest.heads
        )
        for j in self._judges:
            self._metrics.ready.labels(judge=j.name).set_function(self._ready_gauge(j))

    @classmethod
    def from_config(
        cls,
        config: JudgeEngineConfig,
        registry: CollectorRegistry,
        *,
        backend_factory: BackendFactoryMaker | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> JudgeEngine:
        """Load the repository named by ``config`` (synchronous checks: folders, manifests,
        files, tokenizers) with ``backend_factory``, by default ``config.backend``'s, which
        reads secrets from ``environ`` (``app.py`` passes its env). Raises ``ConfigError`` /
        ``JudgeLoadError``."""
        maker = backend_factory or backend_factory_maker(config, registry, environ or {})
        executor = ThreadPoolExecutor(
            max_workers=config.inference_threads, thread_name_prefix="taxmeter-judge"
        )
        try:
            judges = load_repository(
                config.repository, config, backend_factory=maker(config, executor)
            )
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(judges, config, registry, clock=clock, executor=executor)

    # -- Scorer ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once every judge has warmed up, until ``aclose()``. A backend that goes down
        later does not clear it: ``score()`` then fails fast with the backend's reason."""
        return self._ready and not self._closed

    @property
    def not_ready_reason(self) -> str | None:
        """Why ``score()`` would raise ``JudgeNotReadyError`` now (bounded), or ``None``."""
        if self._closed:
            return "closed"
        if not self._ready:
            if self._load_error is not None:
                return "load_failed"
            return next(iter(self._waiting.values()), "warming_up")
        for j in self._judges:
            reason = j.backend.not_ready_reason
            if reason is not None:
                return reason
        return None

    @property
    def heads(self) -> tuple[HeadInfo, ...]:
        return self._heads

    @property
    def judge_names(self) -> list[str]:
        return [j.name for j in self._judges]

    def provider(self, judge: str) -> str:
        """The provider the judge actually runs on (``cuda``, ``cpu``, ``remote``)."""
        for j in self._judges:
            if j.name == judge:
                return j.backend.provider
        raise KeyError(judge)

    async def start(self) -> None:
        """Begin loading and warming every judge in the background; returns at once."""
        if self._start_task is None:
            self._start_task = asyncio.get_running_loop().create_task(self._load_and_warm())

    async def wait_ready(self, timeout_s: float | None = None) -> None:
        """Wait until every judge is warm; re-raises the load error if loading failed."""
        if self._start_task is None:
            await self.start()
        assert self._start_task is not None
        await asyncio.wait_for(asyncio.shield(self._start_task), timeout_s)
        if self._load_error is not None:
            raise self._load_error

    async def score(self, item: JudgeInput) -> JudgeScores:
        self._check_ready()
        futures: list[asyncio.Future[dict[HeadKey, HeadScore]]] = []
        try:
            for batcher in self._batchers.values():
                futures.append(batcher.submit(item))  # ShedError when a queue is full
            results = await asyncio.gather(*futures)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        merged: dict[HeadKey, HeadScore] = {}
        for r in results:
            merged.update(r)
        return merged

    async def score_many(self, items: Sequence[JudgeInput]) -> list[JudgeScores]:
        """Score many items, keeping at most half a queue of them in flight at once."""
        self._check_ready()
        chunk = max(1, self._config.queue_size // 2)
        out: list[JudgeScores] = []
        for i in range(0, len(items), chunk):
            part = items[i : i + chunk]
            out.extend(await asyncio.gather(*(self.score(it) for it in part)))
        return out

    def statistics(self) -> Mapping[str, BatcherStatistics]:
        return {name: b.statistics() for name, b in self._batchers.items()}

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Stop taking items, drain the batchers within ``timeout_s``, release backends."""
        if self._closed:
            return
        self._closed = True
        if self._start_task is not None and not self._start_task.done():
            self._start_task.cancel()
            await asyncio.gather(self._start_task, return_exceptions=True)
        await asyncio.gather(*(b.aclose(timeout_s) for b in self._batchers.values()))
        for j in self._judges:
            await j.backend.aclose()
        if self._owns_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -- internals ------------------------------------------------------------------------

    def _ready_gauge(self, judge: LoadedJudge) -> Callable[[], float]:
        def value() -> float:
            up = not self._closed and self._warm[judge.name]
            return 1.0 if up and judge.backend.not_ready_reason is None else 0.0

        return value

    def _check_ready(self) -> None:
        if self._closed:
            for j in self._judges:
                self._metrics.failure(j.name, "closed")
            raise JudgeNotReadyError("closed", "the judge engine is closed")
        if not self._ready:
            for j in self._judges:
                self._metrics.failure(j.name, "not_ready")
            if self._load_error is not None:
                raise JudgeNotReadyError("load_failed", str(self._load_error))
            waiting = next(iter(self._waiting.values()), "warming_up")
            raise JudgeNotReadyError(waiting, "the judges have not warmed up yet")
        for j in self._judges:  # fail fast while a backend is down: no queue, no tokenising
            reason = j.backend.not_ready_reason
            if reason is not None:
                self._metrics.failure(j.name, "not_ready")
                raise JudgeNotReadyError(reason, f"judge {j.name!r}: backend {reason}")

    async def _load_and_warm(self) -> None:
        tasks = [
            asyncio.create_task(self._start_judge(j), name=f"judge-start-{j.name}")
            for j in self._judges
        ]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for t in pending:  # one judge failed for good: stop warming the others
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        errors = [t.exception() for t in done if not t.cancelled() and t.exception()]
        if errors:
            exc = errors[0]
            if not isinstance(exc, JudgeError):  # a backend bug: a load error, never a hang
                exc = JudgeLoadError("?", f"{type(exc).__name__}: {exc}")
            self._load_error = exc
            self._waiting.clear()
            _log.error("judge_load_failed", error=str(exc))
            return
        self._ready = True
        _log.info("judges_ready", judges=[j.name for j in self._judges])

    async def _start_judge(self, judge: LoadedJudge) -> None:
        try:
            await judge.start()
        except JudgeError:
            self._metrics.failure(judge.name, "load")
            raise
        self._metrics.set_provider(judge.name, judge.requested_provider, judge.backend.provider)
        batcher: DynamicBatcher[JudgeInput, dict[HeadKey, HeadScore]] = DynamicBatcher(
            batch_handler(judge, self._metrics, self._executor),
            max_batch_size=self._config.max_batch_size,
            max_queue_delay_s=self._config.max_queue_delay_ms / 1000.0,
            queue_size=self._config.queue_size,
            max_concurrent_batches=self._config.inference_threads,
            length=judge.tokenizer.estimate_length,
            clock=self._clock,
            observer=self._metrics.observer(judge.name),
        )
        await self._warm_up(judge)
        batcher.start()
        self._batchers[judge.name] = batcher
        self._metrics.track_queue(judge.name, lambda: batcher.queue_depth)
        self._warm[judge.name] = True
        _log.info("judge_ready", judge=judge.name, provider=judge.backend.provider)

    async def _warm_batch(self, judge: LoadedJudge, handler: BatchHandler) -> str | None:
        """One warm-up batch if the backend takes it: ``None`` when it ran, else why not."""
        reason = judge.backend.not_ready_reason
        if reason is not None:
            return reason
        try:
            await handler([_WARMUP_ITEM])
        except JudgeNotReadyError as exc:
            return exc.reason
        except JudgeInferenceError as exc:
            if judge.backend.transient_failures:
                return "backend_error"
            self._metrics.failure(judge.name, "load")
            raise JudgeLoadError(judge.name, f"warm-up batch failed: {exc}") from exc
        return None

    async def _warm_up(self, judge: LoadedJudge) -> None:
        """One batch straight through the handler (the batcher is not public yet), retried
        with capped exponential backoff while the backend is unavailable."""
        cfg = self._config
        backoff = Backoff(cfg.warmup_retry_initial_s, cfg.warmup_retry_max_s, jitter=False)
        last_reason: str | None = None
        handler = batch_handler(judge, self._metrics, self._executor)
        backend = judge.backend
        while (reason := await self._warm_batch(judge, handler)) is not None:
            if reason == "closed" or backend.load_error is not None:
                self._metrics.failure(judge.name, "load")
                raise backend.load_error or JudgeLoadError(
                    judge.name, f"backend not usable: {reason}"
                )
            delay_s = backoff.next_s()
            self._waiting[judge.name] = reason
            log = _log.warning if reason != last_reason else _log.debug
            log(
                "judge_warmup_waiting",
                judge=judge.name,
                reason=reason,
                attempt=backoff.attempts,
                retry_in_s=round(delay_s, 3),
            )
            last_reason = reason
            if reason != "backend_unavailable":
                await asyncio.sleep(delay_s)
            elif await backend.wait_healthy(delay_s):  # woken when healthy (a mismatch is
                await asyncio.sleep(0)  # caught on the next pass): retry now
        self._waiting.pop(judge.name, None)
        if backoff.attempts:
            _log.info("judge_warmup_recovered", judge=judge.name, attempts=backoff.attempts)
