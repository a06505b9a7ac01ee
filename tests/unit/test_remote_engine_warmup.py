"""The judge engine against a backend that is down at startup or goes down mid-run (a fake
remote backend injected through the backend factory; no patching).

Warm-up is retried with capped backoff while the backend is unavailable and the engine becomes
ready when it comes back; a metadata mismatch is final; once ready, ``score`` fails fast with
the backend's reason, which ``JudgingSink`` turns into a labelled shed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import pytest
import structlog
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from judges_fixtures import default_manifest, write_judge
from taxmeter.errors import JudgeInferenceError, JudgeLoadError, JudgeNotReadyError, ShedError
from taxmeter.judges.backend import InferenceBackend, InProcessHealth, TensorSpec
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.judges.engine import JudgeEngine
from taxmeter.judges.manifest import JudgeManifest
from taxmeter.judges.repository import BackendFactory
from taxmeter.pipeline import JudgingSink
from taxmeter.types import Arm, ArmOutcome, ArmResult, JudgeInput, ScoredPair, ShadowPair

ITEM = JudgeInput("q", "yes")


class FlakyRemote:
    """A remote-like backend whose availability the test controls.

    ``reason`` is what ``not_ready_reason`` reports (``None``: available); ``wait_healthy``
    wakes on ``set_reason(None)``; ``fail_next`` makes that many ``infer`` calls raise
    ``JudgeInferenceError``; ``mismatch`` is reported by ``load_error``; failures are
    transient unless ``provider`` says it runs in-process.
    """

    def __init__(self, reason: str | None = None, provider: str = "remote") -> None:
        self.reason = reason
        self._provider = provider
        self.fail_next = 0
        self.mismatch: JudgeLoadError | None = None
        self.batches = 0
        self.closed = False
        self._healthy = asyncio.Event()
        if reason is None:
            self._healthy.set()

    def set_reason(self, reason: str | None) -> None:
        self.reason = reason
        if reason is None:
            self._healthy.set()
        else:
            self._healthy.clear()

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def ready(self) -> bool:
        return self.not_ready_reason is None

    @property
    def not_ready_reason(self) -> str | None:
        return "closed" if self.closed else self.reason

    @property
    def load_error(self) -> JudgeLoadError | None:
        return self.mismatch

    @property
    def transient_failures(self) -> bool:
        return self._provider == "remote"

    @property
    def blocking_infer(self) -> None:
        return None

    async def wait_healthy(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._healthy.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def start(self) -> None:
        pass

    def inputs(self) -> Sequence[TensorSpec]:
        names = (
            "prompt_input_ids",
            "prompt_attention_mask",
            "response_input_ids",
            "response_attention_mask",
        )
        return [TensorSpec(n, "int64", (None, None)) for n in names]

    def outputs(self) -> Sequence[TensorSpec]:
        return [TensorSpec("logits", "float32", (None, 3))]

    async def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.not_ready_reason is not None:
            raise JudgeNotReadyError(self.not_ready_reason)
        self.batches += 1
        if self.fail_next:
            self.fail_next -= 1
            raise JudgeInferenceError("remote inference failed: UNAVAILABLE")
        n = feeds["response_attention_mask"].sum(axis=1).astype(np.float32)
        return {"logits": np.stack([n - 4.0, np.zeros_like(n), -n], axis=1)}

    async def aclose(self) -> None:
        self.closed = True


class PlainDown(InProcessHealth):
    """A backend with the trivial health of ``InProcessHealth`` (no reason of its own),
    never ready."""

    provider = "remote"
    ready = False
    batches = 0

    async def start(self) -> None:
        pass

    inputs = FlakyRemote.inputs
    outputs = FlakyRemote.outputs

    async def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.batches += 1
        raise JudgeNotReadyError("down")

    async def aclose(self) -> None:
        pass


def _engine(
    tmp_path: Path, backend: FlakyRemote | PlainDown, reg: CollectorRegistry, **cfg: float
) -> JudgeEngine:
    write_judge(tmp_path, "default", manifest=default_manifest(inputs=None, embedding=None))
    config = JudgeEngineConfig(
        repository=tmp_path,
        max_queue_delay_ms=0,
        warmup_retry_initial_s=cfg.pop("initial", 0.01),
        warmup_retry_max_s=cfg.pop("max", 0.04),
    )

    def maker(_c: JudgeEngineConfig, _e: Executor) -> BackendFactory:
        def make(_judge: str, _dir: Path, _m: JudgeManifest) -> InferenceBackend:
            return backend

        return make

    return JudgeEngine.from_config(config, reg, backend_factory=maker)


def _ready(engine: JudgeEngine) -> bool:
    return engine.ready


def _reason(engine: JudgeEngine) -> str | None:
    return engine.not_ready_reason  # (read through a call: no narrowing across awaits)


def _ready_gauge(reg: CollectorRegistry) -> float | None:
    return reg.get_sample_value("taxmeter_judge_ready", {"judge": "default"})


async def _until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - state of the code under test, no event
            await asyncio.sleep(0.005)


async def test_unavailable_backend_at_start_is_retried_until_it_comes_back(
    tmp_path: Path,
) -> None:
    backend = FlakyRemote(reason="backend_unavailable")
    reg = CollectorRegistry()
    engine = _engine(tmp_path, backend, reg, initial=0.02, max=0.05)
    try:
        with structlog.testing.capture_logs() as logs:
            await engine.start()
            await _until(lambda: engine.not_ready_reason == "backend_unavailable")
            assert not _ready(engine)
            with pytest.raises(JudgeNotReadyError) as info:
                await engine.score(ITEM)
            assert info.value.reason == "backend_unavailable"
            assert _ready_gauge(reg) == 0.0
            with pytest.raises(TimeoutError):  # still waiting: no permanent load failure
                await engine.wait_ready(timeout_s=0.2)
            assert engine.not_ready_reason == "backend_unavailable"
            backend.set_reason(None)
            await engine.wait_ready(timeout_s=5)
        assert engine.ready
        assert _reason(engine) is None
        assert _ready_gauge(reg) == 1.0
        assert (await engine.score(ITEM))["default.quality"].value > 0.0
        events = [e["event"] for e in logs]
        assert "judge_load_failed" not in events
        assert events.count("judge_warmup_waiting") >= 1
        assert "judge_warmup_recovered" in events and "judges_ready" in events
        waiting = [e for e in logs if e["event"] == "judge_warmup_waiting"]
        assert waiting[0]["log_level"] == "warning" and waiting[0]["judge"] == "default"
        assert (
            reg.get_sample_value(
                "taxmeter_judge_failures_total", {"judge": "default", "reason": "load"}
            )
            is None
        )
    finally:
        await engine.aclose()


async def test_warmup_retry_delay_doubles_up_to_its_cap(tmp_path: Path) -> None:
    backend = PlainDown()
    reg = CollectorRegistry()
    engine = _engine(tmp_path, backend, reg, initial=0.01, max=0.04)
    try:
        with structlog.testing.capture_logs() as logs:
            await engine.start()
            await _until(lambda: sum(e["event"] == "judge_warmup_waiting" for e in logs) >= 5)
        waits = [e for e in logs if e["event"] == "judge_warmup_waiting"]
        assert [e["retry_in_s"] for e in waits[:5]] == [0.01, 0.02, 0.04, 0.04, 0.04]
        assert [e["attempt"] for e in waits[:5]] == [1, 2, 3, 4, 5]
        # a backend without a reason of its own reports the generic one
        assert {e["reason"] for e in waits} == {"backend_unavailable"}
        # the first is a warning, the repeats of the same reason are not
        assert [e["log_level"] for e in waits[:3]] == ["warning", "debug", "debug"]
        assert backend.batches == 0  # no batch is sent to a backend that is not ready
    finally:
        await engine.aclose()


async def test_aclose_cancels_a_warmup_that_is_still_retrying(tmp_path: Path) -> None:
    backend = FlakyRemote(reason="backend_unavailable")
    reg = CollectorRegistry()
    engine = _engine(tmp_path, backend, reg, initial=30.0, max=60.0)
    await engine.start()
    await _until(lambda: engine.not_ready_reason == "backend_unavailable")
    async with asyncio.timeout(5):  # a hang guard: the 30 s retry wait must be cancelled
        await engine.aclose()
    assert backend.closed
    with pytest.raises(JudgeNotReadyError) as info:
        await engine.score(ITEM)
    assert info.value.reason == "closed"
    assert _ready_gauge(reg) == 0.0


async def test_metadata_mismatch_during_warmup_is_a_final_load_error_naming_the_judge(
    tmp_path: Path,
) -> None:
    backend = FlakyRemote(reason="backend_unavailable")
    reg = CollectorRegistry()
    engine = _engine(tmp_path, backend, reg)
    try:
        with structlog.testing.capture_logs() as logs:
            await engine.start()
            await _until(lambda: engine.not_ready_reason == "backend_unavailable")
            # the pool comes up serving a model with the wrong outputs
            backend.mismatch = JudgeLoadError(
                "default", "remote output tensor 'logits' has shape [-1, 2], expected [-1, 3]"
            )
            backend.set_reason("model_mismatch")
            with pytest.raises(JudgeLoadError, match=r"'default'.*'logits'"):
                await engine.wait_ready(timeout_s=5)
        failed = [e for e in logs if e["event"] == "judge_load_failed"]
        assert len(failed) == 1 and "'logits'" in failed[0]["error"]
        with pytest.raises(JudgeNotReadyError) as info:
            await engine.score(ITEM)
        assert info.value.reason == "load_failed"
        assert engine.not_ready_reason == "load_failed"
        assert (
            reg.get_sample_value(
                "taxmeter_judge_failures_total", {"judge": "default", "reason": "load"}
            )
            == 1.0
        )
    finally:
        await engine.aclose()


async def test_failed_remote_warmup_batch_is_retried_with_reason_backend_error(
    tmp_path: Path,
) -> None:
    backend = FlakyRemote()
    backend.fail_next = 2
    reg = CollectorRegistry()
    engine = _engine(tmp_path, backend, reg)
    try:
        with structlog.testing.capture_logs() as logs:
            await engine.start()
            await engine.wait_ready(timeout_s=5)
        assert backend.batches == 3
        reasons = [e["reason"] for e in logs if e["event"] == "judge_warmup_waiting"]
        assert reasons == ["backend_error", "backend_error"]
    finally:
        await engine.aclose()


async def test_failed_in_process_warmup_batch_is_final(tmp_path: Path) -> None:
    backend = FlakyRemote(provider="cpu")
    backend.fail_next = 1
    reg = CollectorRegistry()
    engine = _engine(tmp_path, backend, reg)
    try:
        await engine.start()
        with pytest.raises(JudgeLoadError, match="warm-up batch failed"):
            await engine.wait_ready(timeout_s=5)
        assert backend.batches == 1
        assert engine.not_ready_reason == "load_failed"
    finally:
        await engine.aclose()


async def test_backend_down_after_ready_fails_score_fast_without_a_batch(tmp_path: Path) -> None:
    backend = FlakyRemote()
    reg = CollectorRegistry()
    engine = _engine(tmp_path, backend, reg)
    try:
        await engine.start()
        await engine.wait_ready(timeout_s=5)
        before = backend.batches
        for reason in ("breaker_open", "backend_unavailable"):
            backend.set_reason(reason)
            assert engine.ready  # warmed up; only scoring is refused
            assert engine.not_ready_reason == reason
            assert _ready_gauge(reg) == 0.0
            with pytest.raises(JudgeNotReadyError) as info:
                await engine.score(ITEM)
            assert info.value.reason == reason
        assert backend.batches == before  # nothing queued, nothing sent
        assert engine.statistics()["default"].submitted == 0
        assert (
            reg.get_sample_value(
                "taxmeter_judge_failures_total", {"judge": "default", "reason": "not_ready"}
            )
            == 2.0
        )
        backend.set_reason(None)
        assert _ready_gauge(reg) == 1.0
        assert "default.refusal" in await engine.score(ITEM)
    finally:
        await engine.aclose()


class _Observer:
    def __init__(self) -> None:
        self.scored: list[ScoredPair] = []

    def observe(self, scored: ScoredPair) -> None:
        self.scored.append(scored)


def _pair() -> ShadowPair:
    def arm(a: Arm, text: str) -> ArmResult:
        return ArmResult(
            arm=a, outcome=ArmOutcome.OK, text=text, finish_reason="stop", latency_s=0.1
        )

    return ShadowPair(
        request_id="r1",
        route="chat",
        category=None,
        prompt="p",
        guarded=arm(Arm.GUARDED, "no"),
        unguarded=arm(Arm.UNGUARDED, "yes sure"),
    )


async def test_sink_sheds_with_the_backend_reason_and_on_a_failed_batch(tmp_path: Path) -> None:
    backend = FlakyRemote(reason="backend_unavailable")
    reg = CollectorRegistry()
    engine = _engine(tmp_path, backend, reg)
    observer = _Observer()
    sink = JudgingSink(engine, observer)
    try:
        await engine.start()
        await _until(lambda: engine.not_ready_reason == "backend_unavailable")
        with pytest.raises(ShedError) as info:
            await sink.accept(_pair())
        assert info.value.reason == "judges_not_ready"  # not warmed up: scorer not called
        backend.set_reason(None)
        await engine.wait_ready(timeout_s=5)
        await sink.accept(_pair())
        assert len(observer.scored) == 1
        backend.set_reason("breaker_open")
        with pytest.raises(ShedError) as info:
            await sink.accept(_pair())
        assert info.value.reason == "judges_breaker_open"
        backend.set_reason(None)
        backend.fail_next = 1  # the pool dies under a batch
        with pytest.raises(ShedError) as info:
            await sink.accept(_pair())
        assert info.value.reason == "judges_inference_error"
        assert len(observer.scored) == 1
    finally:
        await engine.aclose()


def test_retry_cap_below_first_delay_is_rejected_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="warmup_retry_max_s"):
        JudgeEngineConfig(repository=tmp_path, warmup_retry_initial_s=5, warmup_retry_max_s=1)
    with pytest.raises(ValidationError, match="warmup_retry_initial_s"):
        JudgeEngineConfig(repository=tmp_path, warmup_retry_initial_s=0)
