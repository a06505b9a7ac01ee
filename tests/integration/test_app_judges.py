"""Judges that are not ready (warming up, or their backend down) never gate the sidecar:
readiness stays 200, mirrors are still acknowledged, and sampled jobs are shed with a reason and
counted, so the accounting still holds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import grpc
import pytest
from app_fixtures import (
    ScriptedEndpoint,
    app_document,
    chat_body,
    mirror_message,
    never_ready_judges,
    scrape,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry
from taxmeter.app import App
from taxmeter.config import config_from_dict
from taxmeter.errors import JudgeError
from taxmeter.proto.taxmeter.v1 import mirror_pb2_grpc

JOBS = 10


async def test_jobs_are_shed_and_counted_while_judges_are_not_ready_and_readyz_stays_200(
    tmp_path: Path,
) -> None:
    guarded, unguarded = ScriptedEndpoint(), ScriptedEndpoint()
    await guarded.start()
    await unguarded.start()
    doc = app_document(guarded.base_url, unguarded.base_url, never_ready_judges(tmp_path))
    app = App(config_from_dict(doc), env={}, registry=CollectorRegistry())
    ports = await app.start()
    try:
        async with aiohttp.ClientSession() as session:
            # readiness does not wait for the judges: 200 right at start ...
            async with session.get(f"http://127.0.0.1:{ports.http}/readyz") as resp:
                assert resp.status == 200
            with pytest.raises(JudgeError):
                await app.engine.wait_ready(30)
            assert not app.engine.ready
            # ... and still 200 once it is clear they will not come up
            async with session.get(f"http://127.0.0.1:{ports.http}/readyz") as resp:
                assert resp.status == 200
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports.grpc}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            check = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            stub = mirror_pb2_grpc.MirrorServiceStub(channel)  # type: ignore[no-untyped-call]
            for i in range(JOBS):
                ack = await stub.Mirror(
                    mirror_message(f"w-{i}", "chat", chat_body(f"q {i}"), force_sample=True),
                    timeout=5,
                )
                assert ack.sampled
        async with asyncio.timeout(20):
            while app.ledger.open_jobs():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        m = await scrape(ports.metrics)
    finally:
        await app.stop()
        await guarded.aclose()
        await unguarded.aclose()

    assert (
        m.total("taxmeter_shadow_jobs_shed_total", route="chat", reason="judges_not_ready") == JOBS
    )
    assert m.total("taxmeter_shadow_jobs_total", route="chat", outcome="shed") == JOBS
    assert m.total("taxmeter_shadow_jobs_total", outcome="completed") == 0
    assert m.total("taxmeter_mirror_requests_total", route="chat", outcome="sampled") == JOBS
    assert m.total("taxmeter_pairs_total") == 0
    # both arms were still called (the shed happens at judging), and counted
    assert guarded.count == unguarded.count == JOBS
    assert m.total("taxmeter_shadow_requests_total", arm="guarded", outcome="ok") == JOBS
    assert m.label_values("taxmeter_build_info", "judge_provider") <= {"cpu", "none"}
    assert m.has_nan() == []
