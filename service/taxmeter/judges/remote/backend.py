"""Remote judges: an ``InferenceBackend`` that speaks the KServe v2 gRPC protocol.

The sidecar tokenizes; a shared pool (NVIDIA Triton, Seldon MLServer, KServe) runs the ONNX
graph and returns the raw head tensors; the engine maps them to scores exactly as in-process,
so switching backend changes no score. The client is ``grpc.aio`` with stubs generated from
the public protocol (``protos/inference/grpc_predict_v2.proto``), not ``tritonclient`` (it
requires ``protobuf<7``, which taxmeter cannot use; docs/judges-remote.md has the numbers).

Protocol use:

- ``start()``: ServerLive, ServerReady, ModelReady and ModelMetadata, bounded by
  ``connect_timeout_s``. The metadata is checked against what the judge expects (the local
  ``model.onnx`` when the repository has it, else the manifest): names, dtypes, shapes; a
  mismatch raises ``JudgeLoadError`` naming the judge and the tensor. A pool that cannot be
  reached does not fail startup: the backend starts *not ready* and keeps probing.
- a health loop repeats the checks every ``health_interval_s`` (and validates the metadata the
  first time the pool answers);
- ``infer()``: one ModelInfer per batch, inputs and outputs as ``raw_*_contents``; per-attempt
  timeout, retries (UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED) with exponential backoff and
  jitter, bounded by a retry budget; a circuit breaker (closed → open → half-open → closed).

When the pool is down or slow, ``infer`` raises ``JudgeNotReadyError(reason)`` at once, without
a network call (reasons: ``backend_unavailable``, ``breaker_open``, ``model_mismatch``,
``closed``), so the caller sheds and counts; nothing waits on a dead pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import numpy as np
import structlog

from taxmeter.errors import JudgeInferenceError, JudgeLoadError, JudgeNotReadyError
from taxmeter.judges.backend import BlockingInfer, TensorSpec
from taxmeter.judges.manifest import JudgeManifest
from taxmeter.judges.remote.config import KServeBackendConfig
from taxmeter.judges.remote.credentials import CallAuth
from taxmeter.judges.remote.metrics import KServeMetrics
from taxmeter.judges.remote.resilience import BreakerState, CircuitBreaker, RetryBudget
from taxmeter.judges.remote.tensors import (
    checked_metadata,
    decode_response,
    encode_request,
    manifest_specs,
    onnx_specs,
)
from taxmeter.proto.inference import grpc_predict_v2_pb2 as pb
from taxmeter.proto.inference import grpc_predict_v2_pb2_grpc as pb_grpc
from taxmeter.resilience import Backoff
from taxmeter.types import Clock, SystemClock

__all__ = ["KServeBackend"]

_log = structlog.get_logger("taxmeter.judges.kserve")

_RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED}
)
# Failures that say nothing about the pool's health (our request was wrong).
_NOT_BREAKER_FAILURES = frozenset({grpc.StatusCode.INVALID_ARGUMENT})


class KServeBackend:
    """One judge served by a KServe v2 pool. Implements ``InferenceBackend``."""

    def __init__(
        self,
        judge: str,
        manifest: JudgeManifest,
        config: KServeBackendConfig,
        metrics: KServeMetrics,
        *,
        local_model: Path | None = None,
        auth: CallAuth | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._judge = judge
        self._manifest = manifest
        self._config = config
        self._metrics = metrics
        self._clock: Clock = clock or SystemClock()
        self._backoff = Backoff(
            config.retry.backoff_initial_s, config.retry.backoff_max_s, rng=rng or random.Random()
        )
        self._model = config.model_name(judge)
        self._auth = auth
        self._credentials = credentials
        if local_model is not None and local_model.is_file():
            self._expected = onnx_specs(judge, local_model)
            self._expected_from_graph = True
        else:
            self._expected = manifest_specs(manifest)
            self._expected_from_graph = False
        self._inputs: tuple[TensorSpec, ...] = self._expected[0]
        self._outputs: tuple[TensorSpec, ...] = self._expected[1]
        self._output_names = [t.name for t in self._outputs]
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.GRPCInferenceServiceStub | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self._healthy = False
        self._healthy_event = asyncio.Event()
        self._checked = False
        self._slow_checks = 0
        self._mismatch: JudgeLoadError | None = None
        self._budget = RetryBudget(
            config.retry.budget_ratio, config.retry.budget_min_per_s, self._clock
        )
        self._breaker = CircuitBreaker(config.breaker, self._clock, self._on_transition)
        metrics.attach(judge)
        if auth is not None and credentials is None:
            _log.warning("kserve_auth_without_tls", judge=judge, target=config.target)

    # -- InferenceBackend -------------------------------------------------------------------

    @property
    def provider(self) -> str:
        return "remote"

    @property
    def ready(self) -> bool:
        return self.not_ready_reason is None

    @property
    def not_ready_reason(self) -> str | None:
        """Why ``infer`` would shed right now (a bounded label), or ``None``."""
        if self._closed:
            return "closed"
        if not self._started:
            return "not_started"
        if self._mismatch is not None:
            return "model_mismatch"
        if not self._healthy:
            return "backend_unavailable"
        if self._breaker.state is BreakerState.OPEN:
            return "breaker_open"
        return None

    @property
    def load_error(self) -> JudgeLoadError | None:
        """The metadata mismatch (naming the judge and the tensor) that keeps the backend not
        ready, or ``None``."""
        return self._mismatch

    @property
    def transient_failures(self) -> bool:
        return True  # a pool that fails a batch may answer the next one

    @property
    def blocking_infer(self) -> BlockingInfer | None:
        return None  # every batch is a network call: async only

    @property
    def breaker_state(self) -> BreakerState:
        return self._breaker.state

    async def wait_healthy(self, timeout_s: float) -> bool:
        """Wait until the pool answers and the model is checked (e.g. before a warm-up
        batch); ``False`` on timeout. The breaker is not consulted."""
        try:
            await asyncio.wait_for(self._healthy_event.wait(), timeout_s)
        except TimeoutError:
            return False
        return self._mismatch is None

    def inputs(self) -> Sequence[TensorSpec]:
        return self._inputs

    def outputs(self) -> Sequence[TensorSpec]:
        return self._outputs

    async def start(self) -> None:
        if self._started:
            return
        if self._closed:
            raise JudgeLoadError(self._judge, "backend is closed")
        cfg = self._config
        options = cfg.channel_options()
        if self._credentials is not None:
            self._channel = grpc.aio.secure_channel(cfg.target, self._credentials, options)
        else:
            self._channel = grpc.aio.insecure_channel(cfg.target, options)
        self._stub = pb_grpc.GRPCInferenceServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._started = True
        try:
            await asyncio.wait_for(self._check(cfg.connect_timeout_s), cfg.connect_timeout_s)
        except JudgeLoadError:
            await self.aclose()
            raise
        except (grpc.aio.AioRpcError, TimeoutError) as exc:
            self._set_healthy(False, _describe(exc))
        self._health_task = asyncio.create_task(
            self._health_loop(), name=f"kserve-health-{self._judge}"
        )

    async def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        reason = self.not_ready_reason
        if reason is not None or not self._breaker.allow():
            self._metrics.request(self._judge, "shed")
            reason = reason or "breaker_open"
            raise JudgeNotReadyError(reason, f"judge {self._judge!r}: remote backend {reason}")
        try:
            request, batch = encode_request(
                self._judge, self._model, self._config.model_version, feeds, self._output_names
            )
        except JudgeInferenceError:
            self._metrics.request(self._judge, "error")
            self._breaker.on_neutral()  # our input, not the pool's health
            raise
        try:
            return await self._send(request, batch)
        except (asyncio.CancelledError, JudgeNotReadyError):
            self._breaker.on_neutral()  # never leak a half-open probe slot
            raise

    async def _send(self, request: Any, batch: int) -> dict[str, np.ndarray]:
        self._budget.on_request()
        attempt = 1
        while True:
            try:
                response = await self._call_infer(request)
                outputs = decode_response(self._judge, response, batch, self._output_names)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if (
                    code in _RETRYABLE
                    and attempt < self._config.retry.max_attempts
                    and not self._closed
                    and self._budget.try_retry()
                ):
                    self._metrics.retry(self._judge)
                    await asyncio.sleep(self._backoff.delay_s(attempt))
                    attempt += 1
                    continue
                self._record_failure(code)
                raise JudgeInferenceError(
                    f"judge {self._judge!r}: remote inference failed: {_describe(exc)}"
                ) from exc
            except JudgeInferenceError:
                self._metrics.request(self._judge, "error")
                self._breaker.on_failure()
                raise
            self._metrics.request(self._judge, "ok")
            self._breaker.on_success()
            return outputs

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._set_healthy(False, "closed")
        task, self._health_task = self._health_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    # -- internals --------------------------------------------------------------------------

    def _on_transition(self, state: BreakerState) -> None:
        self._metrics.transition(self._judge, state)
        log = _log.warning if state is BreakerState.OPEN else _log.info
        log("kserve_breaker_transition", judge=self._judge, to=state.label)

    def _set_healthy(self, healthy: bool, why: str = "") -> None:
        if healthy != self._healthy:
            if healthy:
                _log.info("kserve_backend_ready", judge=self._judge, target=self._config.target)
            elif not self._closed:
                _log.warning(
                    "kserve_backend_unavailable",
                    judge=self._judge,
                    target=self._config.target,
                    error=why,
                )
        self._healthy = healthy
        if healthy:
            self._healthy_event.set()
        else:
            self._healthy_event.clear()
        self._metrics.set_ready(self._judge, self.ready)

    async def _check(self, timeout_s: float) -> None:
        """ServerLive, ServerReady, ModelReady, and (once) ModelMetadata against the
        expected tensors. Raises ``AioRpcError`` for an unreachable pool, ``JudgeLoadError``
        for a mismatch; returns with ``_healthy`` set otherwise."""
        stub = self._stub
        assert stub is not None
        md = self._metadata()
        live = await stub.ServerLive(pb.ServerLiveRequest(), timeout=timeout_s, metadata=md)
        ready = await stub.ServerReady(pb.ServerReadyRequest(), timeout=timeout_s, metadata=md)
        model = await stub.ModelReady(
            pb.ModelReadyRequest(name=self._model, version=self._config.model_version),
            timeout=timeout_s,
            metadata=md,
        )
        if not (live.live and ready.ready and model.ready):
            what = (
                "server not live"
                if not live.live
                else ("server not ready" if not ready.ready else f"model {self._model!r} not ready")
            )
            self._set_healthy(False, what)
            return
        if not self._checked:
            meta = await stub.ModelMetadata(
                pb.ModelMetadataRequest(name=self._model, version=self._config.model_version),
                timeout=timeout_s,
                metadata=md,
            )
            self._validate_metadata(meta)
        self._set_healthy(True)

    def _validate_metadata(self, meta: Any) -> None:
        judge = self._judge
        try:
            self._inputs, self._outputs = checked_metadata(
                judge, meta, self._expected, check_shapes=self._expected_from_graph
            )
        except JudgeLoadError as exc:
            if self._checked or self._mismatch is None:
                _log.error("kserve_model_mismatch", judge=judge, model=self._model, error=str(exc))
            self._mismatch = exc
            self._metrics.set_ready(judge, False)
            raise
        self._output_names = [t.name for t in self._outputs]
        self._checked = True

    async def _health_loop(self) -> None:
        cfg = self._config
        while not self._closed:
            await asyncio.sleep(cfg.health_interval_s)
            try:
                await asyncio.wait_for(self._check(cfg.health_timeout_s), cfg.health_timeout_s * 4)
            except JudgeLoadError:
                # a pool that came up serving the wrong model: stay not ready, keep checking
                # (it may be redeployed); the error was logged once
                self._checked = False
                self._set_healthy(False, "model_mismatch")
            except (grpc.aio.AioRpcError, TimeoutError) as exc:
                slow = isinstance(exc, TimeoutError) or (
                    exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED
                )
                self._slow_checks = self._slow_checks + 1 if slow else 0
                if not slow or self._slow_checks >= cfg.health_slow_threshold or not self._checked:
                    self._set_healthy(False, _describe(exc))
            else:
                self._slow_checks = 0
                if self._checked:
                    self._mismatch = None
                    self._set_healthy(True)
            self._breaker.state  # noqa: B018 - advances open -> half-open on time (gauge)
            self._metrics.set_ready(self._judge, self.ready)

    async def _call_infer(self, request: Any) -> Any:
        stub = self._stub
        if stub is None:
            raise JudgeNotReadyError("closed", f"judge {self._judge!r}: backend closed")
        return await stub.ModelInfer(
            request, timeout=self._config.timeout_s, metadata=self._metadata()
        )

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return () if self._auth is None else self._auth.metadata()

    def _record_failure(self, code: grpc.StatusCode) -> None:
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            outcome = "timeout"
        elif code is grpc.StatusCode.UNAVAILABLE:
            outcome = "unavailable"
        else:
            outcome = "error"
        self._metrics.request(self._judge, outcome)
        if code in _NOT_BREAKER_FAILURES:
            self._breaker.on_neutral()
        else:
            self._breaker.on_failure()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"
