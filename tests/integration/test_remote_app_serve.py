"""The whole sidecar (``App``) with ``judges.backend: kserve`` against a real Seldon MLServer.

One story, in order: the pool is absent at startup (the sidecar starts, readiness 200, mirrors
acked, every sampled job shed and counted as ``judges_not_ready``); the pool comes up on the
configured port (the engine's warm-up retry notices, pairs get scored); the pool is killed
(jobs are shed fast as ``judges_backend_unavailable``, acks stay fast). The accounting holds
at every step. Skipped when ``.venv-mlserver`` is absent, unless ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import aiohttp
import grpc
import pytest
from app_fixtures import (
    Exposition,
    ScriptedEndpoint,
    app_document,
    chat_body,
    mirror_message,
    scrape,
)
from prometheus_client import CollectorRegistry
from taxmeter.app import App
from taxmeter.config import config_from_dict
from taxmeter.judgetools.triton_export import export_triton_repository
from taxmeter.proto.taxmeter.v1 import mirror_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from remote_fixtures.mlserver import (
    MLServerProcess,
    free_port,
    mlserver_available,
    start_mlserver,
    write_model_settings,
)
from remote_fixtures.tiny_judge import write_tiny_judge

if not mlserver_available():
    if os.environ.get("CI") == "true":
        pytest.fail(".venv-mlserver is missing (run scripts/setup_mlserver_venv.sh)", pytrace=False)
    pytest.skip(
        ".venv-mlserver is absent (scripts/setup_mlserver_venv.sh)", allow_module_level=True
    )

JOBS = 8
ACK_BOUND_S = 1.0  # generous: an ack only waits for the sampler's decision
SETTLE_BOUND_S = 10.0  # every job of a phase ends (completed or shed) within this


async def _send(stub: mirror_pb2_grpc.MirrorServiceStub, phase: str) -> float:
    """Send ``JOBS`` force-sampled mirrors; return the slowest ack's latency."""
    slowest = 0.0
    for i in range(JOBS):
        t = time.perf_counter()
        ack = await stub.Mirror(
            mirror_message(
                f"{phase}-{i}", "chat", chat_body(f"{phase} question {i}"), force_sample=True
            ),
            timeout=5,
        )
        slowest = max(slowest, time.perf_counter() - t)
        assert ack.sampled
    return slowest


def _not_ready_reason(app: App) -> str | None:
    """Read through a call: mypy keeps the attribute narrowed by an earlier assert across the
    awaits that change it, and would read the wait for the pool's loss as unreachable."""
    return app.engine.not_ready_reason


async def _settle(app: App) -> float:
    t = time.perf_counter()
    async with asyncio.timeout(SETTLE_BOUND_S):
        while app.ledger.open_jobs():  # noqa: ASYNC110 - the ledger has no event to wait on
            await asyncio.sleep(0.02)
    return time.perf_counter() - t


def _accounting_holds(m: Exposition) -> None:
    sampled = m.total("taxmeter_mirror_requests_total", route="chat", outcome="sampled")
    ended = sum(
        m.total("taxmeter_shadow_jobs_total", route="chat", outcome=o)
        for o in ("completed", "failed", "shed")
    )
    assert sampled == ended, (sampled, ended)


async def test_kserve_judges_absent_then_up_then_killed_shed_score_and_shed_again(
    tmp_path: Path,
) -> None:
    judges, pool = tmp_path / "judges", tmp_path / "pool"
    write_tiny_judge(judges)
    export_triton_repository(judges, pool, max_batch_size=64, instance_kind="KIND_CPU")
    write_model_settings(pool / "default", "default")
    port = free_port()

    guarded, unguarded = ScriptedEndpoint(), ScriptedEndpoint()
    await guarded.start()
    await unguarded.start()
    doc = app_document(guarded.base_url, unguarded.base_url, judges)
    doc["judges"].update(
        {
            "backend": "kserve",
            "warmup_retry_initial_s": 0.1,
            "warmup_retry_max_s": 0.5,
            "kserve": {
                "target": f"127.0.0.1:{port}",
                "timeout_s": 5.0,
                "connect_timeout_s": 1.0,
                "health_interval_s": 0.2,
                "health_timeout_s": 1.0,
                "max_reconnect_backoff_s": 0.3,
            },
        }
    )
    app = App(config_from_dict(doc), env={}, registry=CollectorRegistry())
    srv: MLServerProcess | None = None
    t0 = time.perf_counter()
    ports = await app.start()
    try:
        assert time.perf_counter() - t0 < 5.0  # startup does not wait for the pool
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports.grpc}") as channel:
            stub = mirror_pb2_grpc.MirrorServiceStub(channel)  # type: ignore[no-untyped-call]

            # 1. pool absent: ready to take mirrors, judges not ready, jobs shed and counted
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{ports.http}/readyz") as resp,
            ):
                assert resp.status == 200
            assert await _send(stub, "absent") < ACK_BOUND_S
            await _settle(app)
            assert not app.engine.ready
            assert _not_ready_reason(app) == "backend_unavailable"
            m = await scrape(ports.metrics)
            assert (
                m.total("taxmeter_shadow_jobs_shed_total", route="chat", reason="judges_not_ready")
                == JOBS
            )
            assert m.total("taxmeter_pairs_total") == 0
            assert m.total("taxmeter_judge_ready", judge="default") == 0
            assert m.total("taxmeter_judge_backend_ready", judge="default") == 0
            _accounting_holds(m)

            # 2. the pool comes up on the configured port: warm-up succeeds, pairs are scored
            srv = await asyncio.to_thread(start_mlserver, pool, ["default"], grpc_port=port)
            await app.engine.wait_ready(timeout_s=20)
            assert await _send(stub, "up") < ACK_BOUND_S
            await _settle(app)
            m = await scrape(ports.metrics)
            assert m.total("taxmeter_pairs_total", route="chat") == JOBS
            assert m.total("taxmeter_shadow_jobs_total", route="chat", outcome="completed") == JOBS
            assert m.total("taxmeter_judge_ready", judge="default") == 1
            assert (
                m.total("taxmeter_judge_backend_requests_total", judge="default", outcome="ok") >= 2
            )  # warm-up + at least one batch of pairs
            assert m.label_values("taxmeter_build_info", "judge_provider") == {"remote"}
            _accounting_holds(m)

            # 3. the pool is killed: the health loop notices, jobs are shed fast, acks stay fast
            srv.kill()
            async with asyncio.timeout(10):
                while _not_ready_reason(app) is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            assert _not_ready_reason(app) == "backend_unavailable"
            assert await _send(stub, "killed") < ACK_BOUND_S
            await _settle(app)
            m = await scrape(ports.metrics)
            assert (
                m.total(
                    "taxmeter_shadow_jobs_shed_total",
                    route="chat",
                    reason="judges_backend_unavailable",
                )
                == JOBS
            )
            assert m.total("taxmeter_pairs_total", route="chat") == JOBS  # unchanged
            assert m.total("taxmeter_judge_ready", judge="default") == 0
            assert m.total("taxmeter_judge_backend_ready", judge="default") == 0
            assert (
                m.total("taxmeter_judge_failures_total", judge="default", reason="not_ready")
                >= JOBS
            )
            _accounting_holds(m)
            assert m.has_nan() == []
    finally:
        await app.stop()
        await guarded.aclose()
        await unguarded.aclose()
        if srv is not None:
            srv.stop()
