"""ONNX Runtime in-process backend: CUDA execution provider with a visible CPU fallback.

``onnxruntime-gpu`` on a machine without a usable CUDA stack does not raise when asked for the
CUDA EP: it logs to stderr and quietly runs on the CPU. So the provider actually used is read
back from ``session.get_providers()`` and reported (``provider``), and a fallback is logged as
``judge_provider_fallback``. Session runs happen in the bounded thread pool passed in
(``InferenceSession.run`` releases the GIL), so the event loop never blocks on a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import structlog

from taxmeter.errors import JudgeInferenceError, JudgeLoadError, JudgeNotReadyError
from taxmeter.judges.backend import BlockingInfer, InProcessHealth, TensorSpec
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.judges.manifest import VARIANT_PRECISION

__all__ = ["OnnxBackend", "choose_variant", "ort_dtype_name"]

_log = structlog.get_logger("taxmeter.judges")

_ORT_PROVIDERS = {"cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}
_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
_DTYPES = {
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(bool)": "bool",
}


def ort_dtype_name(ort_type: str) -> str:
    """``"tensor(float)"`` → ``"float32"`` (numpy dtype names)."""
    return _DTYPES.get(ort_type, ort_type)


def choose_variant(
    config: JudgeEngineConfig,
    provider: str,
    available: Collection[str],
    provider_variants: Mapping[str, str],
) -> str:
    """The graph to run on ``provider`` (``plain`` = the manifest's ``model``), from the
    engine's ``variant``/``precision`` and the judge's variants. Raises ``LookupError`` when the
    configuration asks for a variant the judge does not have."""
    if config.variant != "auto":
        if config.variant != "plain" and config.variant not in available:
            raise LookupError(
                f"variant {config.variant!r} is configured but the manifest has no such variant "
                f"(variants: {sorted(available)}; `taxmeter judges optimize` writes opt, "
                "opt_fp16 and int8)"
            )
        return config.variant
    if config.precision == "fp16":
        for name in ("opt_fp16", "fp16"):
            if name in available:
                return name
        raise LookupError("precision fp16 is configured but the manifest has no fp16 variant")
    wanted = provider_variants.get(provider)
    usable = wanted is not None and (wanted == "plain" or wanted in available)
    if usable and (config.precision == "auto" or VARIANT_PRECISION[str(wanted)] == "fp32"):
        return str(wanted)
    if config.precision == "fp32":
        return "opt" if "opt" in available else "plain"
    if provider == "cuda" and "fp16" in available:
        return "fp16"
    return "plain"


def _specs(args: Sequence[Any]) -> tuple[TensorSpec, ...]:
    return tuple(
        TensorSpec(
            a.name,
            ort_dtype_name(a.type),
            tuple(d if isinstance(d, int) and d >= 0 else None for d in a.shape),
        )
        for a in args
    )


class OnnxBackend(InProcessHealth):
    """One judge graph in one ``onnxruntime.InferenceSession``. Implements
    ``InferenceBackend`` (health: ``InProcessHealth``, ready once the session is loaded)."""

    def __init__(
        self,
        judge: str,
        model_path: Path,
        config: JudgeEngineConfig,
        executor: Executor,
        *,
        fp16_path: Path | None = None,
        variants: Mapping[str, Path] | None = None,
        provider_variants: Mapping[str, str] | None = None,
    ) -> None:
        self._judge = judge
        self._model_path = model_path
        self._variants: dict[str, Path] = dict(variants or {})
        if fp16_path is not None:
            self._variants.setdefault("fp16", fp16_path)
        self._provider_variants = dict(provider_variants or {})
        self._config = config
        self._executor = executor
        self._session: ort.InferenceSession | None = None
        self._inputs: tuple[TensorSpec, ...] = ()
        self._outputs: tuple[TensorSpec, ...] = ()
        self._output_names: list[str] = []
        self._provider = "none"
        self._precision = "fp32"
        self._variant = "plain"

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def requested_provider(self) -> str:
        return self._config.providers[0]

    @property
    def precision(self) -> str:
        return self._precision

    @property
    def variant(self) -> str:
        """The graph the session runs (``plain`` = the manifest's ``model``)."""
        return self._variant

    @property
    def ready(self) -> bool:
        return self._session is not None

    @property
    def blocking_infer(self) -> BlockingInfer | None:
        return self.infer_sync

    async def start(self) -> None:
        if self._session is not None:
            return
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        cfg = self._config
        # Decide the graph from where the session will really run: loading the fp16 variant
        # and then finding out we landed on the CPU would load twice.
        cuda_ok = "cuda" in cfg.providers and cfg.providers[0] == "cuda" and self._cuda_usable()
        variant = self._choose("cuda" if cuda_ok else "cpu")
        session = self._create_session(self._path_of(variant))
        active = "cuda" if "CUDAExecutionProvider" in session.get_providers() else "cpu"
        if active != ("cuda" if cuda_ok else "cpu") and cfg.variant == "auto":
            # the probe said CUDA works but this session fell back: run the CPU's choice
            # (fp16 is slow on the CPU EP)
            cpu_variant = self._choose(active)
            if cpu_variant != variant:
                variant = cpu_variant
                session = self._create_session(self._path_of(variant))
        if active != cfg.providers[0]:
            _log.warning(
                "judge_provider_fallback",
                judge=self._judge,
                requested=cfg.providers[0],
                active=active,
            )
        self._inputs = _specs(session.get_inputs())
        self._outputs = _specs(session.get_outputs())
        self._output_names = [o.name for o in self._outputs]
        self._provider = active
        self._variant = variant
        self._precision = VARIANT_PRECISION[variant]
        self._session = session
        _log.info(
            "judge_session_loaded",
            judge=self._judge,
            provider=active,
            precision=self._precision,
            variant=variant,
            model=self._path_of(variant).name,
        )

    def _choose(self, provider: str) -> str:
        try:
            return choose_variant(
                self._config, provider, self._variants.keys(), self._provider_variants
            )
        except LookupError as exc:
            raise JudgeLoadError(self._judge, str(exc)) from exc

    def _path_of(self, variant: str) -> Path:
        return self._model_path if variant == "plain" else self._variants[variant]

    def _cuda_usable(self) -> bool:
        """Whether a session asking for the CUDA EP really gets it (a one-node probe graph)."""
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return False
        preload = getattr(ort, "preload_dlls", None)
        if preload is not None:
            # onnxruntime-gpu from PyPI finds CUDA/cuDNN in the nvidia-* wheels only once they
            # are loaded; a system CUDA install makes this a no-op.
            with contextlib.suppress(Exception):
                preload()
        from onnx import TensorProto, helper

        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])],
            "probe",
            [x],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        so = ort.SessionOptions()
        so.log_severity_level = 4
        try:
            probe = ort.InferenceSession(
                model.SerializeToString(),
                so,
                providers=[
                    ("CUDAExecutionProvider", {"device_id": self._config.cuda_device_id}),
                    "CPUExecutionProvider",
                ],
            )
        except Exception:  # a broken CUDA install may raise instead of falling back
            return False
        return "CUDAExecutionProvider" in probe.get_providers()

    def _create_session(self, path: Path) -> ort.InferenceSession:
        cfg = self._config
        so = ort.SessionOptions()
        so.intra_op_num_threads = cfg.intra_op_threads
        so.inter_op_num_threads = cfg.inter_op_threads
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = _OPT_LEVELS[cfg.graph_optimization]
        so.log_severity_level = 3
        providers: list[Any] = []
        # A provider this onnxruntime build lacks (CUDA with the CPU package) is left out
        # rather than passed (ONNX Runtime warns and falls back); the fallback is logged and
        # exported by _load (judge_provider_fallback, taxmeter_judge_provider_info).
        available = set(ort.get_available_providers())
        for name in cfg.providers:
            if _ORT_PROVIDERS[name] not in available and name != "cpu":
                continue
            if name == "cuda":
                opts: dict[str, Any] = {"device_id": cfg.cuda_device_id}
                if cfg.cuda_mem_limit_bytes is not None:
                    opts["gpu_mem_limit"] = cfg.cuda_mem_limit_bytes
                providers.append((_ORT_PROVIDERS["cuda"], opts))
            else:
                providers.append(_ORT_PROVIDERS[name])
        if "cpu" not in cfg.providers:
            providers.append(_ORT_PROVIDERS["cpu"])  # the fallback is always there
        if not path.is_file():
            raise JudgeLoadError(self._judge, f"model file {path} does not exist")
        try:
            return ort.InferenceSession(str(path), so, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
            raise JudgeLoadError(
                self._judge, f"ONNX Runtime could not load {path.name}: {exc}"
            ) from exc

    def inputs(self) -> Sequence[TensorSpec]:
        return self._inputs

    def outputs(self) -> Sequence[TensorSpec]:
        return self._outputs

    async def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self._session
        if session is None:
            raise JudgeNotReadyError("not_started", f"judge {self._judge!r} is not loaded")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, session, dict(feeds))

    def infer_sync(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch on the calling thread (a worker of the bounded pool)."""
        session = self._session
        if session is None:
            raise JudgeNotReadyError("not_started", f"judge {self._judge!r} is not loaded")
        return self._run(session, dict(feeds))

    def _run(self, session: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
        try:
            results = session.run(self._output_names, feeds)
        except Exception as exc:  # onnxruntime's errors are untyped
            raise JudgeInferenceError(
                f"judge {self._judge!r}: inference failed: {type(exc).__name__}: {exc}"
            ) from exc
        return dict(zip(self._output_names, results, strict=True))

    async def aclose(self) -> None:
        self._session = None
