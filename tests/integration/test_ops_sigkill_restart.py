"""SIGKILL in the middle of work, then restart, watched by a real Prometheus.

``taxmeter serve`` (a process, tiny judges, two slow loopback endpoints so that shadows are in
flight) takes steady gRPC mirrors while a real Prometheus scrapes it every second and evaluates
the production recording rules (test copy: 1 s intervals). The sidecar is SIGKILLed mid-work
and started again on the same ports. Then:

- it comes back ready (gRPC health SERVING) and its counters restart from zero;
- ``rate()`` over the restart is never negative and never spikes (no doubled counts), and
  ``increase()`` over the whole run matches what the sender had acknowledged;
- the fleet-wide recording rules (24 h pair counts, Δ and over-refusal bounds) never go
  backwards or out of range across the reset.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import signal
import sys
import time
import urllib.parse
import urllib.request
from contextlib import AsyncExitStack, suppress
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from app_fixtures import ScriptedEndpoint, app_document, chat_body, mirror_message, tiny_judges
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ops_fixtures.rules import write_test_copy
from ops_fixtures.servers import Prometheus, free_port, run_prometheus
from taxmeter.proto.taxmeter.v1 import mirror_pb2_grpc

pytestmark = pytest.mark.slow

RATE_PER_S = 20.0
PHASE_S = 8.0


def _range(prom: Prometheus, expr: str, start: float, end: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": 1})
    with urllib.request.urlopen(f"{prom.url}/api/v1/query_range?{params}", timeout=10) as r:
        body = json.load(r)
    assert body.get("status") == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _values(series: dict[str, Any]) -> list[float]:
    return [float(v) for _, v in series["values"]]


def _rule_groups(prom: Prometheus) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{prom.url}/api/v1/rules", timeout=10) as r:
        groups: list[dict[str, Any]] = json.load(r)["data"]["groups"]
        return groups


class Sidecar:
    """One ``taxmeter serve`` process; ``started`` resolves with its taxmeter_started event."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.proc: asyncio.subprocess.Process | None = None
        self.events: list[dict[str, Any]] = []

    async def start(self) -> None:
        self.events = []
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "taxmeter",
            "serve",
            "--config",
            str(self.config_path),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stderr is not None
        async with asyncio.timeout(60):
            while line := await self.proc.stderr.readline():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                self.events.append(event)
                if event.get("event") == "judges_ready":
                    break
        asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stderr is not None
        while await proc.stderr.readline():
            pass

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 60)


async def _send(port: int, stop: asyncio.Event, acked: list[int], prefix: str) -> None:
    """Steady Mirror calls; counts the acknowledged ones (the truth for `received`)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = mirror_pb2_grpc.MirrorServiceStub(channel)  # type: ignore[no-untyped-call]
        i = 0
        while not stop.is_set():
            i += 1
            message = mirror_message(
                f"{prefix}-{i}", "chat", chat_body(f"question {i}"), force_sample=i % 4 == 0
            )
            try:
                await stub.Mirror(message, timeout=2)
                acked[0] += 1
            except grpc.aio.AioRpcError:
                pass  # the sidecar is down: not received, not counted
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0 / RATE_PER_S)


async def _phase(port: int, acked: list[int], prefix: str) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(_send(port, stop, acked, prefix))
    await asyncio.sleep(PHASE_S)
    stop.set()
    await task


async def _serving(port: int) -> bool:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        check = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="taxmeter.v1.MirrorService"), timeout=5
        )
        return bool(check.status == health_pb2.HealthCheckResponse.SERVING)


async def test_sigkill_and_restart_keep_rates_and_rules_sane(tmp_path: Path) -> None:
    grpc_port, metrics_port = free_port(), free_port()
    guarded = ScriptedEndpoint(latency_s=0.4)
    unguarded = ScriptedEndpoint(latency_s=0.2)
    await guarded.start()
    await unguarded.start()
    doc = app_document(
        guarded.base_url,
        unguarded.base_url,
        tiny_judges(tmp_path),
        ingress={"host": "127.0.0.1", "grpc_port": grpc_port, "http_enabled": False},
        sampling={
            "rate": 0.5,
            "salt": "sigkill",
            "max_shadows_per_s": 10_000,
            "burst_shadows": 10_000,
            "adaptive": False,
        },
        telemetry={
            "metrics_host": "127.0.0.1",
            "metrics_port": metrics_port,
            "log_format": "json",
            "log_level": "info",
        },
    )
    config_path = tmp_path / "taxmeter.yaml"
    config_path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    rules = write_test_copy(
        tmp_path / "rules.yml", for_duration="2s", group_interval="1s", min_pairs=5
    )
    sidecar = Sidecar(config_path)
    acked = [0]
    async with AsyncExitStack() as stack:
        stack.push_async_callback(unguarded.aclose)
        stack.push_async_callback(guarded.aclose)
        prom = stack.enter_context(
            run_prometheus(
                tmp_path,
                scrape_targets=[f"127.0.0.1:{metrics_port}"],
                rule_file=rules,
                alertmanager_port=free_port(),
                interval="1s",
            )
        )
        stack.push_async_callback(sidecar.terminate)
        t0 = time.time()
        await sidecar.start()
        await _phase(grpc_port, acked, "a")
        await sidecar.kill()  # mid-work: shadows in flight (0.2-0.4 s endpoints)
        killed_at = time.time()
        await sidecar.start()
        assert await _serving(grpc_port)
        await _phase(grpc_port, acked, "b")
        await asyncio.sleep(4)  # a few more scrapes and rule evaluations
        t1 = time.time()

        # counters restarted from zero: the raw series drops once, at the restart
        raw = _range(prom, "taxmeter_mirror_received_total{transport='grpc'}", t0, t1)
        assert len(raw) == 1, raw
        values = _values(raw[0])
        drops = [(a, b) for a, b in itertools.pairwise(values) if b < a]
        assert len(drops) == 1, drops
        assert drops[0][1] < drops[0][0] / 2

        # rate() over the restart: never negative, no spike from the reset
        for expr in (
            "sum(rate(taxmeter_mirror_received_total[5s]))",
            "sum(rate(taxmeter_shadow_jobs_total[5s]))",
            "sum(rate(taxmeter_pairs_total[5s]))",
        ):
            for series in _range(prom, expr, t0, t1):
                for v in _values(series):
                    assert v >= 0, (expr, v)
                    assert v <= 2.5 * RATE_PER_S, (expr, v)

        # increase() over the whole run matches what the sender had acknowledged (minus what
        # the killed process received after its last scrape), never the doubled count
        window = math.ceil(t1 - t0) + 2
        total = prom.query(f"sum(increase(taxmeter_mirror_received_total[{window}s]))")
        assert total, "no increase over the run"
        seen = float(total[0]["value"][1])
        assert 0.7 * acked[0] <= seen <= 1.15 * acked[0], (seen, acked[0])

        # recording rules across the reset: the 24 h pair counts keep the pre-kill pairs and
        # add the new ones; no step jumps by the pre-kill total (a doubled count) and none
        # falls by anything like it (pre-kill pairs lost). Steps do fall a little: when the
        # killed process's series stops, increase() stops extrapolating it to the window's end,
        # up to about one scrape interval's worth, and the pre-kill series spans only ~8 of
        # them (PHASE_S at 1 s scrapes): ~12 %, more when scrapes stretch under load (-10.6 %
        # seen in CI); a quarter is far from
        # the lost-pairs failure (about -100 %) and out of reach of that artefact.
        pairs_before = prom.query(
            f"sum(increase(taxmeter_pairs_total[{math.ceil(killed_at - t0) + 2}s] "
            f"@ {killed_at:.3f}))"
        )
        assert pairs_before
        before = float(pairs_before[0]["value"][1])
        assert before > 10
        for expr in (
            "sum(taxmeter_route:pairs:increase24h)",
            "sum(taxmeter_route:pairs_eligible:increase24h)",
        ):
            found = _range(prom, expr, killed_at - 2, t1)
            assert found, f"{expr}: no data"
            vals = _values(found[0])
            steps = [b - a for a, b in itertools.pairwise(vals)]
            assert all(v >= 0 for v in vals), (expr, vals)
            assert max(steps) < 0.5 * before, (expr, vals)
            assert min(steps) > -0.25 * before, (expr, vals)
            assert vals[-1] > 0.8 * max(vals[: len(vals) // 3]), (expr, vals)
        low = _range(prom, "taxmeter_route_judge:alignment_tax_cs_low:24h", t0, t1)
        high = _range(prom, "taxmeter_route_judge:alignment_tax_cs_high:24h", t0, t1)
        assert low and high
        for lo_s, hi_s in zip(low, high, strict=True):
            for (_, lo), (_, hi) in zip(lo_s["values"], hi_s["values"], strict=False):
                assert -1.0 <= float(lo) <= float(hi) <= 1.0, (lo, hi)
        for series in _range(prom, "taxmeter_route:over_refusal:ratio24h", t0, t1):
            assert all(0.0 <= v <= 1.0 for v in _values(series))
        # alert expressions evaluate (no rule errors) after the reset
        groups = _rule_groups(prom)
        unhealthy = [
            (rule["name"], rule.get("lastError"))
            for g in groups
            for rule in g["rules"]
            if rule.get("health") not in ("ok", "unknown")
        ]
        assert not unhealthy, unhealthy
