"""Remote judges: an ``InferenceBackend`` that speaks the KServe v2 gRPC protocol.

The sidecar tokenizes; a shared pool (NVIDIA Triton, Seldon MLServer, KServe) runs the ONNX
graph and returns the raw head tensors; the engine maps them to scores exactly as in-process,
so switching backend changes no score. The client is ``grpc.aio`` with stubs generated from
the public protocol (``protos/inference/grpc_predict_v2.proto``), not ``tritonclient``: no extra
dependency, async end to end, and we control timeouts, retries and metadata.

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

Metrics (one collector per registry, ``KServeMetrics``):

| metric | type | labels |
|---|---|---|
| ``taxmeter_judge_backend_state`` | gauge: 0 closed, 1 half-open, 2 open | judge, backend |
| ``taxmeter_judge_backend_ready`` | gauge (0/1) | judge, backend |
| ``taxmeter_judge_backend_requests_total`` | counter | judge, outcome |
| ``taxmeter_judge_backend_retries_total`` | counter | judge |
| ``taxmeter_judge_backend_breaker_transitions_total`` | counter | judge, to |

Outcomes: ``ok``, ``timeout``, ``unavailable``, ``error``, ``shed`` (refused without a call).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import numpy as np
import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, model_validator

from taxmeter.errors import ConfigError, JudgeInferenceError, JudgeLoadError, JudgeNotReadyError
from taxmeter.judges.backend import InferenceBackend, TensorSpec
from taxmeter.judges.manifest import INPUT_ROLES, JudgeManifest
from taxmeter.proto.inference import grpc_predict_v2_pb2 as pb
from taxmeter.proto.inference import grpc_predict_v2_pb2_grpc as pb_grpc
from taxmeter.types import Clock, SystemClock

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "KServeAuthConfig",
    "KServeBackend",
    "KServeBackendConfig",
    "KServeBreakerConfig",
    "KServeMetrics",
    "KServeRetryConfig",
    "KServeTLSConfig",
    "RetryBudget",
    "backoff_delay_s",
    "kserve_backend_factory",
    "make_kserve_backend",
    "resolve_auth_metadata",
]

_log = structlog.get_logger("taxmeter.judges.kserve")

BACKEND_LABEL = "kserve"
OUTCOMES = ("ok", "timeout", "unavailable", "error", "shed")

# KServe v2 datatype <-> numpy dtype name.
_KSERVE_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
}
_NUMPY_TO_KSERVE = {v: k for k, v in _KSERVE_TO_NUMPY.items()}
_FLOATS = frozenset({"float16", "float32", "float64"})
_RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED}
)
# Failures that say nothing about the pool's health (our request was wrong).
_NOT_BREAKER_FAILURES = frozenset({grpc.StatusCode.INVALID_ARGUMENT})


# -- configuration ----------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KServeTLSConfig(_Frozen):
    """TLS to the pool. Files are read once at startup; a missing file names the field."""

    ca_file: Path | None = None
    """PEM roots to verify the server; ``None``: the system roots."""
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    server_name_override: str | None = None
    """Name to verify the server certificate against (when ``target`` is an IP or alias)."""

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> KServeTLSConfig:
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("client_cert_file and client_key_file go together (mutual TLS)")
        return self


class KServeAuthConfig(_Frozen):
    """An auth header sent with every call. The secret itself is never in the config: it is
    read once at startup from the environment variable or the file named here."""

    header: str = Field(default="authorization", pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    scheme: str | None = "Bearer"
    """Prefix of the header value (``"Bearer <token>"``); ``None`` sends the token as is."""
    token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    token_file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> KServeAuthConfig:
        if (self.token_env is None) == (self.token_file is None):
            raise ValueError("give exactly one of token_env and token_file")
        if self.header.endswith("-bin"):
            raise ValueError("header must not end in -bin (binary metadata)")
        return self


class KServeRetryConfig(_Frozen):
    max_attempts: int = Field(default=2, ge=1, le=10)
    """Attempts per batch, the first included; retries need budget too."""
    backoff_initial_s: float = Field(default=0.05, gt=0.0, le=60.0)
    backoff_max_s: float = Field(default=1.0, gt=0.0, le=600.0)
    budget_ratio: float = Field(default=0.2, ge=0.0, le=1.0)
    """Retries may add at most this share of calls on top of the first attempts..."""
    budget_min_per_s: float = Field(default=1.0, ge=0.0, le=1000.0)
    """...plus this many retries per second (so a quiet sidecar can still retry)."""


class KServeBreakerConfig(_Frozen):
    failure_threshold: int = Field(default=5, ge=1, le=10_000)
    """Consecutive failed batches that open the breaker."""
    open_s: float = Field(default=5.0, gt=0.0, le=3600.0)
    """How long the breaker stays open before letting probe calls through (half-open)."""
    half_open_max_calls: int = Field(default=1, ge=1, le=100)


class KServeBackendConfig(_Frozen):
    """The remote judge backend (``judges.backend: kserve``)."""

    target: str = Field(min_length=1, pattern=r"^[^\s/]+:\d{1,5}$|^(dns|unix|ipv4|ipv6):.+$")
    """gRPC target: ``host:port`` (or a gRPC URI: ``dns:///pool.ns.svc:8001``)."""
    model_name_template: str = Field(default="{judge}", min_length=1)
    """Remote model name for a judge; ``{judge}`` is replaced by the judge name."""
    model_version: str = ""
    """Remote model version; empty: the server's choice."""
    tls: KServeTLSConfig | None = None
    auth: KServeAuthConfig | None = None
    timeout_s: float = Field(default=2.0, gt=0.0, le=600.0)
    """Deadline of one ModelInfer attempt."""
    connect_timeout_s: float = Field(default=2.0, gt=0.0, le=600.0)
    """Deadline of the startup checks (the backend starts not ready when they fail)."""
    health_interval_s: float = Field(default=2.0, gt=0.0, le=3600.0)
    health_timeout_s: float = Field(default=1.0, gt=0.0, le=600.0)
    health_slow_threshold: int = Field(default=3, ge=1, le=100)
    """Consecutive health checks that time out (a busy pool, not a dead one) before the
    backend reports not ready; a refused connection or a not-ready answer counts at once."""
    max_reconnect_backoff_s: float = Field(default=2.0, gt=0.0, le=300.0)
    """Cap of gRPC's reconnect backoff, so a pool that comes back is used within seconds."""
    max_message_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024, le=2**31 - 1)
    retry: KServeRetryConfig = Field(default_factory=KServeRetryConfig)
    breaker: KServeBreakerConfig = Field(default_factory=KServeBreakerConfig)

    @model_validator(mode="after")
    def _template_names_judge(self) -> KServeBackendConfig:
        if "{judge}" not in self.model_name_template:
            raise ValueError("model_name_template must contain {judge}")
        return self

    def model_name(self, judge: str) -> str:
        return self.model_name_template.replace("{judge}", judge)


def resolve_auth_metadata(
    auth: KServeAuthConfig | None,
    environ: Mapping[str, str],
    field: str = "judges.kserve.auth",
) -> tuple[tuple[str, str], ...]:
    """The call metadata for ``auth``, read now (startup) from the env var or file."""
    if auth is None:
        return ()
    if auth.token_env is not None:
        token = environ.get(auth.token_env, "").strip()
        if not token:
            raise ConfigError(
                f"{field}.token_env", f"environment variable {auth.token_env} is not set or empty"
            )
    else:
        assert auth.token_file is not None
        try:
            token = auth.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{field}.token_file", f"cannot read {auth.token_file}: {exc}"
            ) from exc
        if not token:
            raise ConfigError(f"{field}.token_file", f"{auth.token_file} is empty")
    value = f"{auth.scheme} {token}" if auth.scheme else token
    return ((auth.header, value),)


def load_tls_credentials(
    tls: KServeTLSConfig | None, field: str = "judges.kserve.tls"
) -> grpc.ChannelCredentials | None:
    if tls is None:
        return None

    def read(path: Path | None, name: str) -> bytes | None:
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{field}.{name}", f"cannot read {path}: {exc}") from exc

    return grpc.ssl_channel_credentials(
        root_certificates=read(tls.ca_file, "ca_file"),
        private_key=read(tls.client_key_file, "client_key_file"),
        certificate_chain=read(tls.client_cert_file, "client_cert_file"),
    )


# -- retry budget, backoff, breaker (pure logic, clock injected) ------------------------------


def backoff_delay_s(attempt: int, initial_s: float, max_s: float, rng: random.Random) -> float:
    """Delay before retry number ``attempt`` (1-based): exponential, capped, "equal jitter"
    (half fixed, half uniform), so synchronized sidecars spread out."""
    base: float = min(max_s, initial_s * 2.0 ** (attempt - 1))
    return base / 2 + rng.uniform(0.0, base / 2)


class RetryBudget:
    """Retries allowed as a share of first attempts plus a floor rate (a token bucket).

    Each first attempt deposits ``ratio`` tokens, time deposits ``min_per_s`` per second, a
    retry withdraws one; the balance is capped so a quiet spell cannot bank a retry storm.
    """

    def __init__(self, ratio: float, min_per_s: float, clock: Clock, cap: float = 10.0) -> None:
        self._ratio = ratio
        self._min_per_s = min_per_s
        self._clock = clock
        self._cap = max(cap, 1.0)
        self._tokens = self._cap
        self._last = clock.monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self._cap, self._tokens + (now - self._last) * self._min_per_s)
        self._last = now

    def on_request(self) -> None:
        with self._lock:
            self._refill()
            self._tokens = min(self._cap, self._tokens + self._ratio)

    def try_retry(self) -> bool:
        with self._lock:
            self._refill()
            if self._tokens >= 1.0 - 1e-9:  # tolerate float drift of summed ratios
                self._tokens = max(0.0, self._tokens - 1.0)
                return True
            return False

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens


class BreakerState(enum.IntEnum):
    """The exported gauge value of ``taxmeter_judge_backend_state``."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class CircuitBreaker:
    """Closed → (``failure_threshold`` consecutive failures) → open → (``open_s``) →
    half-open (up to ``half_open_max_calls`` probes) → closed on a probe success, open again
    on a probe failure. ``on_transition(state)`` is called on every change."""

    def __init__(
        self,
        config: KServeBreakerConfig,
        clock: Clock,
        on_transition: Callable[[BreakerState], None] = lambda _s: None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes = 0
        self._lock = threading.Lock()

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            self._on_transition(state)

    def _advance(self) -> None:
        if (
            self._state is BreakerState.OPEN
            and self._clock.monotonic() - self._opened_at >= self._config.open_s
        ):
            self._probes = 0
            self._set(BreakerState.HALF_OPEN)

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose time is up reads as half-open)."""
        with self._lock:
            self._advance()
            return self._state

    def allow(self) -> bool:
        """May a call go out now? A half-open admission is a probe: report its result."""
        with self._lock:
            self._advance()
            if self._state is BreakerState.CLOSED:
                return True
            half_open = self._state is BreakerState.HALF_OPEN
            if half_open and self._probes < self._config.half_open_max_calls:
                self._probes += 1
                return True
            return False

    def on_success(self) -> None:
        with self._lock:
            self._failures = 0
            if self._state is BreakerState.HALF_OPEN:
                self._probes = 0
                self._set(BreakerState.CLOSED)

    def on_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or (
                self._state is BreakerState.CLOSED
                and self._failures >= self._config.failure_threshold
            ):
                self._opened_at = self._clock.monotonic()
                self._probes = 0
                self._set(BreakerState.OPEN)

    def on_neutral(self) -> None:
        """A call that says nothing about the pool's health (e.g. INVALID_ARGUMENT): frees a
        half-open probe slot without deciding."""
        with self._lock:
            if self._state is BreakerState.HALF_OPEN and self._probes > 0:
                self._probes -= 1


# -- metrics ----------------------------------------------------------------------------------


class _JudgeStats:
    __slots__ = ("ready", "requests", "retries", "state", "transitions")

    def __init__(self) -> None:
        self.state = BreakerState.CLOSED
        self.ready = False
        self.requests = dict.fromkeys(OUTCOMES, 0)
        self.retries = 0
        self.transitions = {s.label: 0 for s in BreakerState}


class KServeMetrics(Collector):
    """The remote backend's metrics, for every judge, kept under one lock and exported at
    scrape time. Create one per registry and share it between the judges' backends."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._lock = threading.Lock()
        self._judges: dict[str, _JudgeStats] = {}
        registry.register(self)

    def attach(self, judge: str) -> None:
        with self._lock:
            self._judges.setdefault(judge, _JudgeStats())

    def _stats(self, judge: str) -> _JudgeStats:
        return self._judges.setdefault(judge, _JudgeStats())

    def request(self, judge: str, outcome: str) -> None:
        with self._lock:
            self._stats(judge).requests[outcome] += 1

    def retry(self, judge: str) -> None:
        with self._lock:
            self._stats(judge).retries += 1

    def transition(self, judge: str, to: BreakerState) -> None:
        with self._lock:
            stats = self._stats(judge)
            stats.state = to
            stats.transitions[to.label] += 1

    def set_ready(self, judge: str, ready: bool) -> None:
        with self._lock:
            self._stats(judge).ready = ready

    def describe(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        return self._families({})

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with self._lock:
            snapshot = {
                judge: (s.state, s.ready, dict(s.requests), s.retries, dict(s.transitions))
                for judge, s in self._judges.items()
            }
        return self._families(snapshot)

    @staticmethod
    def _families(
        snapshot: Mapping[
            str, tuple[BreakerState, bool, dict[str, int], int, dict[str, int]]
        ],
    ) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        state = GaugeMetricFamily(
            "taxmeter_judge_backend_state",
            "Remote judge backend circuit breaker: 0 closed, 1 half-open, 2 open",
            labels=["judge", "backend"],
        )
        ready = GaugeMetricFamily(
            "taxmeter_judge_backend_ready",
            "1 when the remote judge backend is reachable, its model ready and checked",
            labels=["judge", "backend"],
        )
        requests = CounterMetricFamily(
            "taxmeter_judge_backend_requests",
            "Inference batches sent to (or shed before) the remote judge backend, by outcome",
            labels=["judge", "outcome"],
        )
        retries = CounterMetricFamily(
            "taxmeter_judge_backend_retries",
            "ModelInfer retries (within the retry budget)",
            labels=["judge"],
        )
        transitions = CounterMetricFamily(
            "taxmeter_judge_backend_breaker_transitions",
            "Circuit breaker state changes, by the state entered",
            labels=["judge", "to"],
        )
        for judge, (st, rdy, reqs, n_retries, trans) in sorted(snapshot.items()):
            state.add_metric([judge, BACKEND_LABEL], float(st))
            ready.add_metric([judge, BACKEND_LABEL], 1.0 if rdy else 0.0)
            for outcome, n in reqs.items():
                requests.add_metric([judge, outcome], float(n))
            retries.add_metric([judge], float(n_retries))
            for to, n in trans.items():
                transitions.add_metric([judge, to], float(n))
        yield state
        yield ready
        yield requests
        yield retries
        yield transitions


# -- expected tensors -------------------------------------------------------------------------


def _onnx_specs(judge: str, path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The local graph's tensors (the judge repository's ``model.onnx``)."""
    from taxmeter.judgetools.triton_export import TritonTensor, graph_tensors

    inputs, outputs = graph_tensors(path, judge)

    def spec(t: TritonTensor) -> TensorSpec:
        kserve = t.data_type.removeprefix("TYPE_")
        dtype = _KSERVE_TO_NUMPY.get(kserve, kserve.lower())
        return TensorSpec(t.name, dtype, tuple(None if d < 0 else d for d in t.dims))

    return tuple(spec(t) for t in inputs), tuple(spec(t) for t in outputs)


def _manifest_specs(
    manifest: JudgeManifest,
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """What the manifest alone says: the input names it maps, the outputs the heads read
    (dims unknown; the pool's metadata fills them in)."""
    required, optional = INPUT_ROLES[manifest.input.kind]
    mapping = manifest.inputs or {}
    names = [mapping.get(r, r) for r in required] + [mapping[r] for r in optional if r in mapping]
    inputs = tuple(TensorSpec(n, "int64", (None, None)) for n in names)
    outs: list[str] = []
    for head in manifest.heads:
        if head.output not in outs:
            outs.append(head.output)
    if manifest.embedding is not None and manifest.embedding.output not in outs:
        outs.append(manifest.embedding.output)
    return inputs, tuple(TensorSpec(n, "float32", (None, None)) for n in outs)


def _remote_spec(judge: str, t: Any) -> TensorSpec:
    dtype = _KSERVE_TO_NUMPY.get(t.datatype)
    if dtype is None:
        raise JudgeLoadError(
            judge, f"remote tensor {t.name!r} has datatype {t.datatype!r}, which judges cannot use"
        )
    return TensorSpec(t.name, dtype, tuple(None if d < 0 else int(d) for d in t.shape))


def check_remote_tensors(
    judge: str,
    kind: str,
    expected: Sequence[TensorSpec],
    remote: Sequence[TensorSpec],
    *,
    check_shapes: bool,
    exact_names: bool,
) -> None:
    """Raise ``JudgeLoadError`` naming the judge and the first tensor that does not match."""
    by_name = {t.name: t for t in remote}
    for want in expected:
        got = by_name.get(want.name)
        if got is None:
            raise JudgeLoadError(
                judge,
                f"remote model has no {kind} tensor {want.name!r} "
                f"(remote {kind}s: {sorted(by_name)})",
            )
        same_dtype = got.dtype == want.dtype or (got.dtype in _FLOATS and want.dtype in _FLOATS)
        if not same_dtype:
            raise JudgeLoadError(
                judge,
                f"remote {kind} tensor {want.name!r} is {got.dtype}, expected {want.dtype}",
            )
        if check_shapes:
            mismatch = len(got.shape) != len(want.shape) or any(
                a is not None and b is not None and a != b
                for a, b in zip(got.shape, want.shape, strict=False)
            )
            if mismatch:
                raise JudgeLoadError(
                    judge,
                    f"remote {kind} tensor {want.name!r} has shape "
                    f"{_shape_text(got.shape)}, expected {_shape_text(want.shape)}",
                )
    if exact_names:
        extra = sorted(set(by_name) - {t.name for t in expected})
        if extra:
            raise JudgeLoadError(
                judge, f"remote model has {kind} tensor(s) {extra} that this judge does not have"
            )


def _shape_text(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"


# -- the backend ------------------------------------------------------------------------------


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
        auth_metadata: Sequence[tuple[str, str]] = (),
        credentials: grpc.ChannelCredentials | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._judge = judge
        self._manifest = manifest
        self._config = config
        self._metrics = metrics
        self._clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._model = config.model_name(judge)
        self._metadata_pairs = tuple(auth_metadata)
        self._credentials = credentials
        if local_model is not None and local_model.is_file():
            self._expected = _onnx_specs(judge, local_model)
            self._expected_from_graph = True
        else:
            self._expected = _manifest_specs(manifest)
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
        if auth_metadata and credentials is None:
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
    def mismatch_error(self) -> JudgeLoadError | None:
        """The metadata mismatch (naming the judge and the tensor) that keeps the backend not
        ready, or ``None``."""
        return self._mismatch

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
        options: list[tuple[str, int | str]] = [
            ("grpc.max_send_message_length", cfg.max_message_bytes),
            ("grpc.max_receive_message_length", cfg.max_message_bytes),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", int(cfg.max_reconnect_backoff_s * 1000)),
            ("grpc.enable_retries", 0),
        ]
        if cfg.tls is not None and cfg.tls.server_name_override:
            options.append(("grpc.ssl_target_name_override", cfg.tls.server_name_override))
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
            request, batch = self._encode(feeds)
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
                outputs = self._decode(response, batch)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if (
                    code in _RETRYABLE
                    and attempt < self._config.retry.max_attempts
                    and not self._closed
                    and self._budget.try_retry()
                ):
                    self._metrics.retry(self._judge)
                    await asyncio.sleep(
                        backoff_delay_s(
                            attempt,
                            self._config.retry.backoff_initial_s,
                            self._config.retry.backoff_max_s,
                            self._rng,
                        )
                    )
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
        md = self._metadata_pairs
        live = await stub.ServerLive(pb.ServerLiveRequest(), timeout=timeout_s, metadata=md)
        ready = await stub.ServerReady(pb.ServerReadyRequest(), timeout=timeout_s, metadata=md)
        model = await stub.ModelReady(
            pb.ModelReadyRequest(name=self._model, version=self._config.model_version),
            timeout=timeout_s,
            metadata=md,
        )
        if not (live.live and ready.ready and model.ready):
            what = "server not live" if not live.live else (
                "server not ready" if not ready.ready else f"model {self._model!r} not ready"
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
        remote_in = tuple(_remote_spec(judge, t) for t in meta.inputs)
        remote_out = tuple(_remote_spec(judge, t) for t in meta.outputs)
        exp_in, exp_out = self._expected
        graph = self._expected_from_graph
        try:
            check_remote_tensors(
                judge, "input", exp_in, remote_in, check_shapes=graph, exact_names=True
            )
            check_remote_tensors(
                judge, "output", exp_out, remote_out, check_shapes=graph, exact_names=False
            )
        except JudgeLoadError as exc:
            if self._checked or self._mismatch is None:
                _log.error("kserve_model_mismatch", judge=judge, model=self._model, error=str(exc))
            self._mismatch = exc
            self._metrics.set_ready(judge, False)
            raise
        wanted = {t.name for t in exp_out}
        self._inputs = remote_in
        self._outputs = tuple(t for t in remote_out if t.name in wanted)
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

    def _encode(self, feeds: Mapping[str, np.ndarray]) -> tuple[Any, int]:
        request = pb.ModelInferRequest(
            model_name=self._model, model_version=self._config.model_version
        )
        batch = -1
        for name, value in feeds.items():
            arr = np.ascontiguousarray(value)
            datatype = _NUMPY_TO_KSERVE.get(arr.dtype.name)
            if datatype is None or arr.ndim == 0:
                raise JudgeInferenceError(
                    f"judge {self._judge!r}: input {name!r} of dtype {arr.dtype} / shape "
                    f"{arr.shape} cannot be sent"
                )
            if batch < 0:
                batch = arr.shape[0]
            tensor = request.inputs.add()
            tensor.name = name
            tensor.datatype = datatype
            tensor.shape.extend(arr.shape)
            request.raw_input_contents.append(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
        for name in self._output_names:
            request.outputs.add().name = name
        return request, batch

    async def _call_infer(self, request: Any) -> Any:
        stub = self._stub
        if stub is None:
            raise JudgeNotReadyError("closed", f"judge {self._judge!r}: backend closed")
        return await stub.ModelInfer(
            request, timeout=self._config.timeout_s, metadata=self._metadata_pairs
        )

    def _decode(self, response: Any, batch: int) -> dict[str, np.ndarray]:
        raw = list(response.raw_output_contents)
        if raw and len(raw) != len(response.outputs):
            raise JudgeInferenceError(
                f"judge {self._judge!r}: response has {len(response.outputs)} outputs but "
                f"{len(raw)} raw contents"
            )
        out: dict[str, np.ndarray] = {}
        for i, tensor in enumerate(response.outputs):
            dtype_name = _KSERVE_TO_NUMPY.get(tensor.datatype)
            if dtype_name is None:
                raise JudgeInferenceError(
                    f"judge {self._judge!r}: output {tensor.name!r} has datatype "
                    f"{tensor.datatype!r}"
                )
            shape = tuple(int(d) for d in tensor.shape)
            dtype = np.dtype(dtype_name).newbyteorder("<")
            # found by fuzzing (both escaped as a ValueError): a negative dimension, a raw
            # buffer that is not a whole number of elements
            if any(d < 0 for d in shape):
                raise JudgeInferenceError(
                    f"judge {self._judge!r}: output {tensor.name!r} has shape {list(shape)}"
                )
            if raw and len(raw[i]) % dtype.itemsize:
                raise JudgeInferenceError(
                    f"judge {self._judge!r}: output {tensor.name!r} has {len(raw[i])} bytes, "
                    f"not a multiple of {dtype.itemsize} ({tensor.datatype})"
                )
            flat = np.frombuffer(raw[i], dtype=dtype) if raw else _typed_contents(tensor, dtype)
            if flat.size != int(np.prod(shape)):
                raise JudgeInferenceError(
                    f"judge {self._judge!r}: output {tensor.name!r} has {flat.size} values for "
                    f"shape {list(shape)}"
                )
            out[tensor.name] = flat.reshape(shape).astype(dtype_name, copy=False)
        for name in self._output_names:
            arr = out.get(name)
            if arr is None:
                raise JudgeInferenceError(
                    f"judge {self._judge!r}: response lacks output {name!r}"
                )
            if arr.ndim == 0 or arr.shape[0] != batch:
                raise JudgeInferenceError(
                    f"judge {self._judge!r}: output {name!r} has shape {list(arr.shape)} for a "
                    f"batch of {batch}"
                )
        return out

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


def _typed_contents(tensor: Any, dtype: np.dtype[Any]) -> np.ndarray:
    c = tensor.contents
    kind = dtype.name
    if kind in ("float32",):
        values: Any = c.fp32_contents
    elif kind == "float64":
        values = c.fp64_contents
    elif kind == "int64":
        values = c.int64_contents
    elif kind in ("int8", "int16", "int32"):
        values = c.int_contents
    elif kind == "uint64":
        values = c.uint64_contents
    elif kind in ("uint8", "uint16", "uint32"):
        values = c.uint_contents
    elif kind == "bool":
        values = c.bool_contents
    else:  # FP16 has no typed field: it must come raw
        raise JudgeInferenceError(f"output {tensor.name!r} ({kind}) came without raw contents")
    return np.asarray(list(values), dtype=kind)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


# -- factories --------------------------------------------------------------------------------

BackendFactoryFn = Callable[[str, Path, JudgeManifest], InferenceBackend]


def kserve_backend_factory(
    config: KServeBackendConfig,
    registry: CollectorRegistry,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    config_field: str = "judges.kserve",
) -> BackendFactoryFn:
    """A ``repository.BackendFactory`` that serves every judge from the pool at
    ``config.target``. Reads the auth token and TLS files now (startup); a problem raises
    ``ConfigError`` naming the field. One ``KServeMetrics`` collector on ``registry``."""
    env = os.environ if environ is None else environ
    auth = resolve_auth_metadata(config.auth, env, f"{config_field}.auth")
    credentials = load_tls_credentials(config.tls, f"{config_field}.tls")
    metrics = KServeMetrics(registry)

    def make(judge: str, judge_dir: Path, manifest: JudgeManifest) -> InferenceBackend:
        return KServeBackend(
            judge,
            manifest,
            config,
            metrics,
            local_model=judge_dir / manifest.model,
            auth_metadata=auth,
            credentials=credentials,
            clock=clock,
        )

    return make


def make_kserve_backend(
    judge_manifest: JudgeManifest,
    config: KServeBackendConfig,
    registry: CollectorRegistry,
    *,
    judge_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> KServeBackend:
    """One backend for one judge, with its own metrics collector on ``registry`` (use
    ``kserve_backend_factory`` to serve several judges against one registry)."""
    env = os.environ if environ is None else environ
    return KServeBackend(
        judge_manifest.name,
        judge_manifest,
        config,
        KServeMetrics(registry),
        local_model=(judge_dir / judge_manifest.model) if judge_dir is not None else None,
        auth_metadata=resolve_auth_metadata(config.auth, env),
        credentials=load_tls_credentials(config.tls),
    )

