"""The inference backend interface: what the judge engine needs from whatever runs a graph.

Two implementations exist: ``onnx_backend.OnnxBackend`` (ONNX Runtime in-process, CUDA EP with
CPU fallback) and ``kserve`` (a remote KServe v2 / Triton server). The engine does manifest
validation, tokenisation, padding, dynamic batching and head mapping identically for every
backend, so switching backend changes no score.

This module depends on numpy and the error tree only (no pydantic, no structlog), so that it
can be loaded on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

__all__ = ["InferenceBackend", "SyncInferenceBackend", "TensorSpec"]


class TensorSpec(NamedTuple):
    """A graph input or output as the backend reports it."""

    name: str
    dtype: str
    """numpy dtype name, e.g. ``"int64"``, ``"float32"``."""
    shape: tuple[int | None, ...]
    """Dimensions; ``None`` for a dynamic (symbolic) axis."""


@runtime_checkable
class InferenceBackend(Protocol):
    """Runs one judge graph on one batch at a time.

    Lifecycle: ``start()`` (load, connect, warm), then any number of ``infer()`` calls, which
    may overlap (the batcher bounds how many), then ``aclose()``.
    """

    @property
    def provider(self) -> str:
        """The provider actually in use: ``"cuda"``, ``"cpu"`` or ``"remote"``."""
        ...

    @property
    def ready(self) -> bool:
        """True once ``start()`` succeeded and until ``aclose()`` (or the remote is down)."""
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

    async def aclose(self) -> None:
        """Release the session / connection. Idempotent."""
        ...


@runtime_checkable
class SyncInferenceBackend(Protocol):
    """Optional extra of an in-process backend: run one batch on the *calling* thread.

    The engine then tokenises and runs a batch in one trip to its bounded pool instead of
    two (each trip is a thread hand-off, which costs milliseconds on a loaded CPU).
    """

    def infer_sync(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Like ``InferenceBackend.infer``, blocking; call it from a worker thread only."""
        ...
