"""``taxmeter serve`` as a process: SIGTERM while shadows are in flight drains them (they
complete and are counted), health turns NOT_SERVING, and the process exits 0 within the grace
period."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import yaml
from app_fixtures import (
    Exposition,
    ScriptedEndpoint,
    app_document,
    chat_body,
    mirror_message,
    scrape,
    tiny_judges,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from taxmeter.proto.taxmeter.v1 import mirror_pb2_grpc

LATENCY_S = 1.5
GRACE_S = 8.0
JOBS = 6
SERVICE = "taxmeter.v1.MirrorService"


class LogReader:
    """Collects the sidecar's JSON log events from its stderr."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.events: list[dict[str, Any]] = []
        self.other: list[str] = []
        self._stream = stream
        self._changed = asyncio.Condition()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while line := await self._stream.readline():
            text = line.decode(errors="replace").strip()
            try:
                event = json.loads(text)
            except json.JSONDecodeError:
                self.other.append(text)
                continue
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()

    def find(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("event") == name), None)

    async def wait_for(self, name: str, timeout_s: float) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: self.find(name) is not None)
        event = self.find(name)
        assert event is not None
        return event


def _identity_holds(m: Exposition) -> bool:
    for route in m.label_values("taxmeter_mirror_requests_total", "route"):
        sampled = m.total("taxmeter_mirror_requests_total", route=route, outcome="sampled")
        ended = m.total("taxmeter_shadow_jobs_total", route=route)
        open_ = m.total("taxmeter_shadow_jobs_open", route=route)
        if sampled != ended + open_:
            return False
    return True


async def _scrape_until_gone(port: int) -> list[Exposition]:
    out: list[Exposition] = []
    while True:
        try:
            out.append(await scrape(port))
        except (OSError, http.client.HTTPException):
            return out
        await asyncio.sleep(0.1)


async def test_sigterm_drains_in_flight_shadows_and_exits_0(tmp_path: Path) -> None:
    guarded = ScriptedEndpoint(latency_s=LATENCY_S)
    unguarded = ScriptedEndpoint(latency_s=LATENCY_S)
    await guarded.start()
    await unguarded.start()
    doc = app_document(
        guarded.base_url,
        unguarded.base_url,
        tiny_judges(tmp_path),
        shadow={"concurrency": 8, "drain_grace_s": GRACE_S},
        telemetry={"log_format": "json", "log_level": "info"},
    )
    config_path = tmp_path / "taxmeter.yaml"
    config_path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "taxmeter",
        "serve",
        "--config",
        str(config_path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    logs = LogReader(proc.stderr)
    watched: list[int] = []
    try:
        started = await logs.wait_for("taxmeter_started", 30)
        await logs.wait_for("judges_ready", 30)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{started['grpc_port']}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            check = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
            assert check.status == health_pb2.HealthCheckResponse.SERVING

            async def watch() -> None:
                call = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE))
                with contextlib.suppress(grpc.aio.AioRpcError):
                    async for update in call:
                        watched.append(update.status)

            watcher = asyncio.create_task(watch())
            stub = mirror_pb2_grpc.MirrorServiceStub(channel)  # type: ignore[no-untyped-call]
            for i in range(JOBS):
                ack = await stub.Mirror(
                    mirror_message(f"t-{i}", "chat", chat_body(f"question {i}"), force_sample=True),
                    timeout=5,
                )
                assert ack.sampled
            async with asyncio.timeout(10):
                while guarded.count + unguarded.count < 2 * JOBS:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            before = await scrape(started["metrics_port"])
            assert before.total("taxmeter_shadow_jobs_open", state="in_flight") == JOBS
            assert before.total("taxmeter_shadow_jobs_total") == 0

            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            scrapes = asyncio.create_task(_scrape_until_gone(started["metrics_port"]))
            async with asyncio.timeout(GRACE_S + 5):
                rc = await proc.wait()
            elapsed = time.monotonic() - t0
            during = await asyncio.wait_for(scrapes, 5)
            await asyncio.wait_for(watcher, 5)
        await asyncio.wait_for(logs.task, 5)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await guarded.aclose()
        await unguarded.aclose()

    assert rc == 0, logs.other[-20:]
    assert elapsed < GRACE_S
    draining = logs.find("taxmeter_draining")
    drained = logs.find("shadow_drained")
    assert draining is not None and draining["grace_s"] == GRACE_S
    assert drained is not None, [e.get("event") for e in logs.events]
    # every in-flight job finished its calls and was scored: none shed, none failed
    assert (drained["completed"], drained["failed"], drained["shed"]) == (JOBS, 0, 0)
    assert drained["in_flight"] == 0 and drained["queued"] == 0
    assert logs.find("taxmeter_stopped") is not None
    assert guarded.count == unguarded.count == JOBS
    # health went NOT_SERVING before the server closed
    assert watched[0] == health_pb2.HealthCheckResponse.SERVING
    assert health_pb2.HealthCheckResponse.NOT_SERVING in watched[1:]
    assert _identity_holds(before)
    # /metrics stays up while draining, and the accounting holds at every scrape
    assert during, "no scrape succeeded during the drain"
    assert all(_identity_holds(m) for m in during)
    assert all(m.total("taxmeter_shadow_jobs_total", outcome="shed") == 0 for m in during)
