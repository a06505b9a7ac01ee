"""The KServe v2 judge backend against a real Seldon MLServer (gRPC, loopback, free ports).

MLServer runs from ``.venv-mlserver`` (``scripts/setup_mlserver_venv.sh``) with the custom
runtime in ``tests/remote_fixtures/mlserver_runtime`` serving the ``model.onnx`` that
``export_triton_repository`` wrote. Skipped when that venv is absent, unless ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from remote_fixtures.mlserver import (
    MLServerProcess,
    free_port,
    mlserver_available,
    start_mlserver,
    write_model_settings,
)
from remote_fixtures.tiny_judge import write_tiny_judge
from taxmeter.errors import JudgeInferenceError, JudgeLoadError, JudgeNotReadyError
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.judges.engine import JudgeEngine
from taxmeter.judges.manifest import load_manifest
from taxmeter.judges.remote.backend import KServeBackend
from taxmeter.judges.remote.config import (
    KServeBackendConfig,
    KServeBreakerConfig,
    KServeRetryConfig,
)
from taxmeter.judges.remote.factory import kserve_backend_factory
from taxmeter.judges.remote.metrics import KServeMetrics
from taxmeter.judges.remote.resilience import BreakerState
from taxmeter.judgetools.triton_export import export_triton_repository
from taxmeter.types import JudgeInput

if not mlserver_available():
    if os.environ.get("CI") == "true":
        pytest.fail(".venv-mlserver is missing (run scripts/setup_mlserver_venv.sh)", pytrace=False)
    pytest.skip(
        ".venv-mlserver is absent (scripts/setup_mlserver_venv.sh)", allow_module_level=True
    )

ITEMS = [
    JudgeInput(
        f"prompt number {i}: how do I {'bake bread' if i % 2 else 'pick a lock'}?",
        "Sure. " * (i % 5 + 1) + ("I can't help with that." if i % 3 == 0 else "Step 1."),
    )
    for i in range(20)
]


class _Paths:
    def __init__(self, root: Path) -> None:
        self.judges = root / "judges"
        self.pool = root / "pool"
        self.delay_file = root / "delay_s"


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> _Paths:
    root = tmp_path_factory.mktemp("remote")
    p = _Paths(root)
    write_tiny_judge(p.judges)
    export_triton_repository(p.judges, p.pool, max_batch_size=64, instance_kind="KIND_CPU")
    write_model_settings(p.pool / "default", "default")
    # the same graph, slowed down by a delay read from a file on every request
    slow = p.pool / "default-slow"
    (slow / "1").mkdir(parents=True)
    shutil.copyfile(p.pool / "default" / "1" / "model.onnx", slow / "1" / "model.onnx")
    p.delay_file.write_text("0")
    write_model_settings(slow, "default-slow", delay_file=p.delay_file)
    # a model whose logits have 2 columns where the judge has 3
    wrong_judges = root / "wrong"
    write_tiny_judge(wrong_judges, n_logits=2)
    wrong = p.pool / "default-wrong"
    (wrong / "1").mkdir(parents=True)
    shutil.copyfile(wrong_judges / "default" / "model.onnx", wrong / "1" / "model.onnx")
    write_model_settings(wrong, "default-wrong")
    return p


@pytest.fixture(scope="module")
def server(paths: _Paths) -> Iterator[MLServerProcess]:
    srv = start_mlserver(paths.pool, ["default", "default-slow", "default-wrong"])
    yield srv
    srv.stop()


def _config(target: str, **kw: object) -> KServeBackendConfig:
    base: dict[str, object] = {
        "target": target,
        "timeout_s": 5.0,
        "connect_timeout_s": 5.0,
        "health_interval_s": 0.2,
        "health_timeout_s": 1.0,
        "max_reconnect_backoff_s": 0.3,
    }
    base.update(kw)
    return KServeBackendConfig.model_validate(base)


def _backend(
    paths: _Paths, config: KServeBackendConfig, reg: CollectorRegistry | None = None
) -> KServeBackend:
    judge_dir = paths.judges / "default"
    manifest = load_manifest(judge_dir)
    return KServeBackend(
        "default",
        manifest,
        config,
        KServeMetrics(reg or CollectorRegistry()),
        local_model=judge_dir / manifest.model,
    )


def _breaker_state(b: KServeBackend) -> BreakerState:
    """Read through a call: mypy keeps ``b.breaker_state`` (and ``b.ready``) narrowed by an
    earlier assert across the awaits that change them, and flags the next check unreachable."""
    return b.breaker_state


def _ready(b: KServeBackend) -> bool:
    return b.ready


def _feeds(batch: int, seq: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    for side in ("prompt", "response"):
        feeds[f"{side}_input_ids"] = rng.integers(0, 30000, (batch, seq), dtype=np.int64)
        mask = np.ones((batch, seq), dtype=np.int64)
        for row in range(batch):
            mask[row, rng.integers(1, seq + 1) :] = 0
        feeds[f"{side}_attention_mask"] = mask
        feeds[f"{side}_token_type_ids"] = np.zeros((batch, seq), dtype=np.int64)
    return feeds


def _sample(reg: CollectorRegistry, name: str, **labels: str) -> float:
    value = reg.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
async def backend(paths: _Paths, server: MLServerProcess) -> AsyncIterator[KServeBackend]:
    b = _backend(paths, _config(server.target))
    await b.start()
    yield b
    await b.aclose()


async def test_remote_raw_tensors_equal_in_process_session(
    paths: _Paths, backend: KServeBackend
) -> None:
    session = ort.InferenceSession(
        str(paths.judges / "default" / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    assert _ready(backend)
    for batch, seq, seed in ((1, 5, 0), (7, 33, 1), (16, 64, 2)):
        feeds = _feeds(batch, seq, seed)
        remote = await backend.infer(feeds)
        local = dict(
            zip(["logits", "embedding"], session.run(["logits", "embedding"], feeds), strict=True)
        )
        for name in ("logits", "embedding"):
            assert remote[name].shape == local[name].shape
            assert remote[name].dtype == np.float32
            np.testing.assert_allclose(remote[name], local[name], rtol=0, atol=1e-5)


async def test_remote_engine_scores_equal_in_process_engine_scores(
    paths: _Paths, server: MLServerProcess
) -> None:
    local_cfg = JudgeEngineConfig(repository=paths.judges, max_batch_size=8)
    remote_cfg = JudgeEngineConfig(repository=paths.judges, backend="kserve", max_batch_size=8)
    kcfg = _config(server.target)
    local = JudgeEngine.from_config(local_cfg, CollectorRegistry())
    reg = CollectorRegistry()
    remote = JudgeEngine.from_config(
        remote_cfg,
        reg,
        backend_factory=lambda _c, _e: kserve_backend_factory(kcfg, reg, environ={}),
    )
    try:
        await local.start()
        await remote.start()
        await local.wait_ready(timeout_s=60)
        await remote.wait_ready(timeout_s=60)
        assert remote.provider("default") == "remote"
        got_local = await asyncio.gather(*(local.score(i) for i in ITEMS))
        got_remote = await asyncio.gather(*(remote.score(i) for i in ITEMS))
    finally:
        await local.aclose()
        await remote.aclose()
    assert len(got_remote) == len(ITEMS)
    for a, b in zip(got_local, got_remote, strict=True):
        assert set(a) == set(b) == {"default.refusal", "default.unsafe", "default.quality"}
        for key in a:
            assert abs(a[key].value - b[key].value) <= 1e-5, key
            assert a[key].decision == b[key].decision
    assert _sample(reg, "taxmeter_judge_backend_requests_total", judge="default", outcome="ok") >= 2


async def test_metadata_mismatch_is_a_load_error_naming_judge_and_tensor(
    paths: _Paths, server: MLServerProcess
) -> None:
    b = _backend(paths, _config(server.target, model_name_template="{judge}-wrong"))
    with pytest.raises(JudgeLoadError) as info:
        await b.start()
    message = str(info.value)
    assert "'default'" in message and "'logits'" in message
    assert "[-1, 2]" in message and "[-1, 3]" in message
    assert not _ready(b)


async def test_unknown_remote_model_leaves_backend_not_ready(
    paths: _Paths, server: MLServerProcess
) -> None:
    b = _backend(paths, _config(server.target, model_name_template="{judge}-absent"))
    try:
        await b.start()
        assert not _ready(b)
        with pytest.raises(JudgeNotReadyError) as info:
            await b.infer(_feeds(1, 4, 0))
        assert info.value.reason == "backend_unavailable"
    finally:
        await b.aclose()


async def test_server_absent_at_startup_sheds_fast_then_recovers(
    paths: _Paths, tmp_path: Path
) -> None:
    port = free_port()
    reg = CollectorRegistry()
    b = _backend(paths, _config(f"127.0.0.1:{port}", connect_timeout_s=1.0), reg)
    srv: MLServerProcess | None = None
    try:
        t0 = time.monotonic()
        await b.start()  # starts although nothing listens
        assert time.monotonic() - t0 < 2.0
        assert not _ready(b) and b.not_ready_reason == "backend_unavailable"
        for _ in range(5):
            t = time.perf_counter()
            with pytest.raises(JudgeNotReadyError) as info:
                await b.infer(_feeds(2, 4, 0))
            assert time.perf_counter() - t < 0.05  # no network call
            assert info.value.reason == "backend_unavailable"
        assert (
            _sample(reg, "taxmeter_judge_backend_requests_total", judge="default", outcome="shed")
            == 5
        )
        assert _sample(reg, "taxmeter_judge_backend_ready", judge="default", backend="kserve") == 0
        # the pool comes up: the health loop notices, validates the model, and serves
        pool = tmp_path / "pool"
        shutil.copytree(paths.pool / "default", pool / "default")
        srv = start_mlserver(pool, ["default"], grpc_port=port)
        assert await b.wait_healthy(timeout_s=15)
        assert _ready(b)
        out = await b.infer(_feeds(2, 4, 0))
        assert out["logits"].shape == (2, 3)
        assert _sample(reg, "taxmeter_judge_backend_ready", judge="default", backend="kserve") == 1
    finally:
        await b.aclose()
        if srv is not None:
            srv.stop()


async def test_server_killed_mid_run_opens_breaker_and_sheds(paths: _Paths, tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    shutil.copytree(paths.pool / "default", pool / "default")
    srv = start_mlserver(pool, ["default"])
    reg = CollectorRegistry()
    cfg = _config(
        srv.target,
        timeout_s=1.0,
        health_interval_s=30.0,  # only the breaker reacts within this test
        retry=KServeRetryConfig(max_attempts=2, backoff_initial_s=0.01, backoff_max_s=0.02),
        breaker=KServeBreakerConfig(failure_threshold=2, open_s=60.0),
    )
    b = _backend(paths, cfg, reg)
    try:
        await b.start()
        assert (await b.infer(_feeds(3, 8, 0)))["logits"].shape == (3, 3)
        srv.kill()
        for _ in range(2):
            with pytest.raises(JudgeInferenceError, match="UNAVAILABLE"):
                await b.infer(_feeds(3, 8, 1))
        assert _breaker_state(b) is BreakerState.OPEN
        assert not _ready(b)
        t = time.perf_counter()
        with pytest.raises(JudgeNotReadyError) as info:
            await b.infer(_feeds(3, 8, 2))
        assert time.perf_counter() - t < 0.05
        assert info.value.reason == "breaker_open"
        assert (
            _sample(
                reg, "taxmeter_judge_backend_requests_total", judge="default", outcome="unavailable"
            )
            == 2
        )
        assert _sample(reg, "taxmeter_judge_backend_retries_total", judge="default") >= 1
        assert _sample(reg, "taxmeter_judge_backend_state", judge="default", backend="kserve") == 2
        assert (
            _sample(
                reg, "taxmeter_judge_backend_breaker_transitions_total", judge="default", to="open"
            )
            == 1
        )
    finally:
        await b.aclose()
        srv.stop()


async def test_slow_server_times_out_opens_breaker_then_half_open_recovers(
    paths: _Paths, server: MLServerProcess
) -> None:
    reg = CollectorRegistry()
    cfg = _config(
        server.target,
        model_name_template="{judge}-slow",
        timeout_s=0.2,
        health_interval_s=30.0,
        breaker=KServeBreakerConfig(failure_threshold=2, open_s=0.5),
    )
    b = _backend(paths, cfg, reg)
    try:
        await b.start()
        paths.delay_file.write_text("1.0")
        for _ in range(2):
            t = time.perf_counter()
            with pytest.raises(JudgeInferenceError, match="DEADLINE_EXCEEDED"):
                await b.infer(_feeds(2, 6, 0))
            assert time.perf_counter() - t < 0.6  # the deadline, not the server, decides
        assert _breaker_state(b) is BreakerState.OPEN
        with pytest.raises(JudgeNotReadyError) as info:
            await b.infer(_feeds(2, 6, 0))
        assert info.value.reason == "breaker_open"
        paths.delay_file.write_text("0")
        await asyncio.sleep(0.6)
        assert _breaker_state(b) is BreakerState.HALF_OPEN and _ready(b)
        out = await b.infer(_feeds(2, 6, 0))  # the probe succeeds: closed again
        assert out["logits"].shape == (2, 3)
        assert _breaker_state(b) is BreakerState.CLOSED
        for to, n in (("open", 1), ("half_open", 1), ("closed", 1)):
            assert (
                _sample(
                    reg, "taxmeter_judge_backend_breaker_transitions_total", judge="default", to=to
                )
                == n
            )
        assert (
            _sample(
                reg, "taxmeter_judge_backend_requests_total", judge="default", outcome="timeout"
            )
            == 2
        )
        assert (
            _sample(reg, "taxmeter_judge_backend_requests_total", judge="default", outcome="shed")
            == 1
        )
    finally:
        paths.delay_file.write_text("0")
        await b.aclose()
