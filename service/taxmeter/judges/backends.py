"""Which backend runs the judge graphs: the one place that maps ``judges.backend`` to a
backend factory. A new kind of backend (another remote protocol, another runtime) implements
``judges.backend.InferenceBackend`` in its own module and gets one branch here.

The remote backend is imported only when configured (it pulls in gRPC and the KServe stubs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor

from prometheus_client import CollectorRegistry

from taxmeter.errors import ConfigError
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.judges.repository import BackendFactory, onnx_backend_factory

__all__ = ["BackendFactoryMaker", "backend_factory_maker"]

BackendFactoryMaker = Callable[[JudgeEngineConfig, Executor], BackendFactory]
"""Builds the per-judge backend factory from the config and the engine's bounded pool."""


def backend_factory_maker(
    config: JudgeEngineConfig, registry: CollectorRegistry, environ: Mapping[str, str]
) -> BackendFactoryMaker:
    """The factory maker for ``config.backend``. Secrets are read from ``environ`` (or files)
    now; a problem raises ``ConfigError`` naming the field."""
    if config.backend == "onnxruntime":
        return onnx_backend_factory
    if config.kserve is None:
        raise ConfigError(
            "judges.kserve", "backend 'kserve' needs a kserve block (target at least)"
        )
    from taxmeter.judges.remote.factory import kserve_backend_factory

    factory = kserve_backend_factory(config.kserve, registry, environ=environ)
    return lambda _config, _executor: factory
