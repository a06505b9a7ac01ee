"""The remote backend's factory: one ``KServeBackend`` per judge, sharing the auth secret, the
TLS credentials and one metrics collector. ``judges.backends`` calls it when
``judges.backend`` is ``kserve``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry

from taxmeter.judges.backend import InferenceBackend
from taxmeter.judges.manifest import JudgeManifest
from taxmeter.judges.remote.backend import KServeBackend
from taxmeter.judges.remote.config import KServeBackendConfig
from taxmeter.judges.remote.credentials import load_call_auth, load_tls_credentials
from taxmeter.judges.remote.metrics import KServeMetrics
from taxmeter.types import Clock

__all__ = ["kserve_backend_factory"]

BackendFactoryFn = Callable[[str, Path, JudgeManifest], InferenceBackend]


def kserve_backend_factory(
    config: KServeBackendConfig,
    registry: CollectorRegistry,
    *,
    environ: Mapping[str, str],
    clock: Clock | None = None,
    config_field: str = "judges.kserve",
) -> BackendFactoryFn:
    """A ``repository.BackendFactory`` that serves every judge from the pool at
    ``config.target``. Reads the auth secret (from ``environ``, which ``app.py`` passes in, or
    a file) and the TLS files now (startup); a problem raises ``ConfigError`` naming the field.
    One ``KServeMetrics`` collector on ``registry``."""
    auth = load_call_auth(config.auth, environ, f"{config_field}.auth")
    credentials = load_tls_credentials(config.tls, f"{config_field}.tls")
    metrics = KServeMetrics(registry)

    def make(judge: str, judge_dir: Path, manifest: JudgeManifest) -> InferenceBackend:
        return KServeBackend(
            judge,
            manifest,
            config,
            metrics,
            local_model=judge_dir / manifest.model,
            auth=auth,
            credentials=credentials,
            clock=clock,
        )

    return make
