"""The inference backend interface: what the judge engine needs from whatever runs a graph.

Two implementations exist: ``onnx_backend.OnnxBackend`` (ONNX Runtime in-process, CUDA EP with
CPU fallback) and ``remote.backend.KServeBackend`` (a remote KServe v2 / Triton server). The
engine does manifest validation, tokenisation, padding, dynamic batching and head mapping
identically for every backend, so switching backend changes no score.

Health is part of the interface (``ready``, ``not_ready_reason``, ``wait_healthy``,
``load_error``, ``transient_failures``), so the engine treats every backend alike; an
in-process backend gets the trivial versions from ``InProcessHealth``.

This module depends on numpy and the error tree only (no pydantic, no structlog), so that it
can be loaded on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, Protocol

import numpy as np

from taxmeter.errors import JudgeLoadError

__all__ = ["BlockingInfer", "InProcessHealth", "InferenceBackend", "TensorSpec"]

BlockingInfer = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
"""``infer`` run on the calling thread (a worker of the engine's bounded pool)."""


class TensorSpec(NamedTuple):
    """A graph input or output as the backend reports it."""

    name: str
    dtype: str
    """numpy dtype name, e.g. ``"int64"``, ``"float32"``."""
    shape: tuple[int | None, ...]
    """Dimensions; ``None`` for a dynamic (symbolic) axis."""


class InferenceBackend(Protocol):
    """Runs one judge graph on one batch at a time.

    Lifecycle: ``start()`` (load, connect, warm), then any number of ``infer()`` calls, which
    may overlap (the batcher bounds how many), then ``aclose()``.
    """

    @property
    def provider(self) -> str:
        """The provider actually in use: ``"cuda"``, ``"cpu"`` or ``"remote"`` (a label)."""
        ...

    async def start(self) -> None:
        """Load / connect / warm. Raises ``JudgeLoadError`` naming the judge and the problem."""
        ...

    def inputs(self) -> Sequence[TensorSpec]:
        """The model's real input specs (valid after ``start()``)."""
        ...

    def outputs(self) -> Sequence[TensorSpec]:
        """The model's real output specs (valid after ``start()``)."""
        ...

    async def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch. Raises ``JudgeInferenceError`` or ``JudgeNotReadyError``."""
        ...

    @property
    def blocking_infer(self) -> BlockingInfer | None:
        """``infer`` for a worker thread, when the backend runs in-process (the engine then
        tokenises and runs a batch in one trip to its pool instead of two); else ``None``."""
        ...

    async def aclose(self) -> None:
        """Release the session / connection. Idempotent."""
        ...

    # -- health ----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True when ``infer`` may be called now (``not_ready_reason is None``)."""
        ...

    @property
    def not_ready_reason(self) -> str | None:
        """Why ``infer`` would be refused now, a bounded label (``backend_unavailable``,
        ``breaker_open``, ``model_mismatch``, ``closed``...), or ``None``."""
        ...

    async def wait_healthy(self, timeout_s: float) -> bool:
        """Wait until the backend can take a batch; ``False`` on timeout."""
        ...

    @property
    def load_error(self) -> JudgeLoadError | None:
        """A problem that waiting will not fix (e.g. the remote serves another model), naming
        the judge; the engine then fails the load with it. ``None`` otherwise."""
        ...

    @property
    def transient_failures(self) -> bool:
        """Whether a failed batch may succeed later without a restart (a remote pool): the
        engine then retries a failed warm-up batch instead of failing the load."""
        ...


class InProcessHealth:
    """The trivial health of a backend that runs in this process: ready once started (the
    subclass says when), nothing to wait for, and a failed batch is a broken graph."""

    @property
    def ready(self) -> bool:
        raise NotImplementedError

    @property
    def not_ready_reason(self) -> str | None:
        return None if self.ready else "backend_unavailable"

    async def wait_healthy(self, timeout_s: float) -> bool:
        if not self.ready:  # nothing will change it from outside: just pace the caller
            await asyncio.sleep(timeout_s)
        return self.ready

    @property
    def load_error(self) -> JudgeLoadError | None:
        return None

    @property
    def transient_failures(self) -> bool:
        return False

    @property
    def blocking_infer(self) -> BlockingInfer | None:
        return None
