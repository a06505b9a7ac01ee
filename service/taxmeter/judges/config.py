"""Configuration of the judge engine (one frozen pydantic model, validated once at load)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from taxmeter.judges.remote.config import KServeBackendConfig

__all__ = ["JudgeEngineConfig", "ProviderName"]

ProviderName = Literal["cuda", "cpu"]


def _cpu_only() -> list[ProviderName]:
    return ["cpu"]


class JudgeEngineConfig(BaseModel):
    """How the judge engine loads and runs the judges of one repository.

    ``backend`` picks what runs the graphs: ``onnxruntime`` in-process (``providers`` in order
    of preference, CUDA falling back to CPU visibly), or ``kserve`` (a remote KServe v2 /
    Triton server; its settings live in the remote backend's own config block). Tokenisation,
    batching and head mapping are the same for both.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    repository: Path
    backend: Literal["onnxruntime", "kserve"] = "onnxruntime"
    providers: list[ProviderName] = Field(default_factory=_cpu_only, min_length=1)
    cuda_device_id: int = Field(default=0, ge=0)
    cuda_mem_limit_bytes: int | None = Field(default=None, gt=0)
    intra_op_threads: int = Field(default=0, ge=0, le=256)
    """ONNX Runtime intra-op threads per session; 0 = ONNX Runtime's default (all cores)."""
    inter_op_threads: int = Field(default=1, ge=1, le=64)
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    precision: Literal["fp32", "fp16", "auto"] = "auto"
    """auto: the fp16 variant when running on CUDA and the judge has one, else fp32. With
    ``variant: auto``, the manifest's ``provider_variants`` come first (an fp16 one only when
    precision is not ``fp32``)."""
    variant: Literal["auto", "plain", "fp16", "opt", "opt_fp16", "int8"] = "auto"
    """Which graph of each judge to run: ``auto`` = the one the judge's manifest names for the
    provider the session lands on (``provider_variants``, chosen by measurement at
    ``taxmeter judges optimize``), else by ``precision``; ``plain`` = ``model`` itself (the
    reference graph); a variant name = that variant (a judge without it fails to load). Only
    ``auto`` combines with a ``precision`` other than ``auto``."""
    max_batch_size: int = Field(default=16, ge=1, le=1024)
    max_queue_delay_ms: float = Field(default=5.0, ge=0.0, le=10_000.0)
    queue_size: int = Field(default=1024, ge=1, le=1_000_000)
    """Items waiting per judge; a full queue sheds with ``ShedError("judge_queue_full")``."""
    inference_threads: int = Field(default=1, ge=1, le=64)
    """Threads running session calls (the bounded pool), shared by all judges; also the
    number of batches each judge may have in flight."""
    warmup_retry_initial_s: float = Field(default=0.5, gt=0.0, le=60.0)
    """First delay before retrying a warm-up that found the backend unavailable (a remote pool
    not up yet); doubles per attempt up to ``warmup_retry_max_s``. Retries never stop while the
    backend is merely unavailable; a load error (mismatch) is final."""
    warmup_retry_max_s: float = Field(default=10.0, gt=0.0, le=600.0)
    judges: list[str] | None = None
    """Load only these judges of the repository (``None``: all of them)."""
    kserve: KServeBackendConfig | None = None
    """The remote pool, required when ``backend`` is ``kserve`` (see docs/judges-remote.md);
    ``JudgeEngine.from_config`` raises ``ConfigError("judges.kserve")`` when it is missing."""

    @field_validator("providers")
    @classmethod
    def _no_duplicate_providers(cls, v: list[ProviderName]) -> list[ProviderName]:
        if len(set(v)) != len(v):
            raise ValueError("providers must not repeat a provider")
        return v

    @model_validator(mode="after")
    def _variant_or_precision(self) -> JudgeEngineConfig:
        if self.variant != "auto" and self.precision != "auto":
            raise ValueError(
                f"variant {self.variant!r} and precision {self.precision!r} both pick the graph: "
                "set one of them (the other stays 'auto')"
            )
        return self

    @model_validator(mode="after")
    def _retry_bounds_ordered(self) -> JudgeEngineConfig:
        if self.warmup_retry_max_s < self.warmup_retry_initial_s:
            raise ValueError("warmup_retry_max_s must be >= warmup_retry_initial_s")
        return self

    @field_validator("judges")
    @classmethod
    def _judges_not_empty(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("judges must name at least one judge (or be omitted for all)")
        return v
