"""Soak with faults: steady mirrored traffic while both endpoints cycle through faults on a
random schedule with a fixed seed, for minutes to hours.

One process, one event loop, all on loopback: the real ``taxmeter.app.App`` (tiny random-weight
judges, or ``--judges DIR``), two fault-injecting OpenAI-compatible endpoints, and an open-loop
sender (gRPC unary ``Mirror`` and HTTP sink posts; request *i* is due at ``t0 + i/rate``, and
its ack latency is measured from that time). Each endpoint follows its own seeded schedule of
segments (``--segment-s``, ±50 %): ``ok``, ``hang`` (past the arm timeout), ``reset`` (the
connection is aborted), ``5xx``, ``429`` with ``Retry-After``, ``garbage`` (not JSON), ``drip``
(a slow SSE stream) and ``recover`` (ok again); about a third of the time both are clean.

At every scrape (``--scrape-s``): the identities of DESIGN.md on ``/metrics``
(received == Σ outcomes; per route sampled == completed + failed + shed + open), received ≤
what the sender has sent, and the process's RSS, open fds, asyncio tasks and shadow queue
depth. At the end, after a drain: received per transport == what the sender sent, and each
endpoint's own request count == ``taxmeter_shadow_requests_total`` for its arm.

Printed: the table for docs/benchmarks.md: faults injected, requests, identities held (scrapes
checked / failed), RSS, fds and tasks start/peak/end, ack p99 with no fault active vs with
one active, and their ratio (target < 2). Caveat: the sender and the endpoints share the
sidecar's process and loop, so RSS/fds include theirs and ack latency includes their CPU.

    .venv/bin/python bench/soak.py --duration-s 180            # a few minutes
    .venv/bin/python bench/soak.py --duration-s 3600 --seed 7  # the 1 h soak
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

MODES = ("hang", "reset", "5xx", "429", "garbage", "drip", "recover")
ARM_TIMEOUT_S = 3.0


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


# -- fault schedule and endpoints --------------------------------------------------------------


@dataclass
class Schedule:
    """Segments (start_s, mode) from a seeded RNG; ``ok`` about a third of the time."""

    segments: list[tuple[float, str]]

    @classmethod
    def make(cls, rng: random.Random, duration_s: float, segment_s: float) -> Schedule:
        out: list[tuple[float, str]] = [(0.0, "ok")]
        t = segment_s  # a clean start
        while t < duration_s:
            mode = "ok" if rng.random() < 0.33 else rng.choice(MODES)
            out.append((t, mode))
            t += segment_s * rng.uniform(0.5, 1.5)
        return cls(out)

    def mode(self, elapsed_s: float) -> str:
        current = "ok"
        for start, mode in self.segments:
            if start > elapsed_s:
                break
            current = mode
        return "ok" if current == "recover" else current

    def injected(self) -> Counter[str]:
        return Counter(m for _, m in self.segments if m != "ok")


class FaultEndpoint:
    """An OpenAI-compatible endpoint that misbehaves as its schedule says."""

    def __init__(self, name: str, schedule: Schedule, t0: list[float]) -> None:
        self.name = name
        self.schedule = schedule
        self.t0 = t0
        self.count = 0
        self.by_mode: Counter[str] = Counter()
        self.base_url = ""
        self._runner: Any = None

    async def start(self) -> str:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self.base_url

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        self.count += 1
        body = json.loads(await request.read())
        mode = self.schedule.mode(time.monotonic() - self.t0[0])
        self.by_mode[mode] += 1
        if mode == "hang":
            await asyncio.sleep(ARM_TIMEOUT_S + 1.0)
            return web.json_response({"error": "late"}, status=504)
        if mode == "reset":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if mode == "5xx":
            return web.json_response({"error": {"message": "overloaded"}}, status=503)
        if mode == "429":
            return web.json_response(
                {"error": {"message": "rate limited"}}, status=429, headers={"Retry-After": "1"}
            )
        if mode == "garbage":
            return web.Response(status=200, content_type="application/json", text="{{{garbage")
        answer = f"{self.name} answer: a careful and helpful reply."
        if body.get("stream") is True or mode == "drip":
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            for word in answer.split(" "):
                if mode == "drip":
                    await asyncio.sleep(0.25)
                chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
                await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            await resp.write(b"data: " + json.dumps(end).encode() + b"\n\ndata: [DONE]\n\n")
            await resp.write_eof()
            return resp
        return web.json_response(
            {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18},
            }
        )


# -- the sender ---------------------------------------------------------------------------------


@dataclass
class Sender:
    sent: Counter[str] = field(default_factory=Counter)
    acked: int = 0
    failed: int = 0
    lat_clean: list[float] = field(default_factory=list)
    lat_faulted: list[float] = field(default_factory=list)


async def send_loop(
    args: argparse.Namespace,
    grpc_port: int,
    http_port: int,
    sender: Sender,
    faulted: Any,
    stop_at: float,
) -> None:
    import aiohttp
    import grpc
    from app_fixtures import chat_body, mirror_message
    from taxmeter.proto.taxmeter.v1 import mirror_pb2_grpc

    routes = ["chat", "search", "unlisted"]
    t0 = time.monotonic()
    pending: set[asyncio.Task[None]] = set()
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel,
        aiohttp.ClientSession() as session,
    ):
        stub = mirror_pb2_grpc.MirrorServiceStub(channel)  # type: ignore[no-untyped-call]

        async def one(i: int, due: float) -> None:
            route = routes[i % 3]
            body = chat_body(f"soak question {i}", stream=i % 5 == 0)
            was_faulted = faulted()
            try:
                if i % 4 == 3:
                    sender.sent["http"] += 1
                    async with session.post(
                        f"http://127.0.0.1:{http_port}/v1/chat/completions",
                        data=json.dumps(body).encode(),
                        headers={
                            "content-type": "application/json",
                            "x-taxmeter-route": route,
                            "x-request-id": f"h{i}",
                        },
                    ) as resp:
                        await resp.read()
                        ok = resp.status == 202
                else:
                    sender.sent["grpc"] += 1
                    await stub.Mirror(mirror_message(f"g{i}", route, body), timeout=10)
                    ok = True
            except (grpc.aio.AioRpcError, aiohttp.ClientError, TimeoutError):
                ok = False
            latency = time.monotonic() - due
            if ok:
                sender.acked += 1
                (sender.lat_faulted if was_faulted else sender.lat_clean).append(latency)
            else:
                sender.failed += 1

        i = 0
        while True:
            due = t0 + i / args.rate
            if due >= stop_at:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(i, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
        if pending:
            await asyncio.gather(*pending)


# -- scrapes ------------------------------------------------------------------------------------


def fetch(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def total(
    m: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return sum(
        v
        for (n, ls), v in m.items()
        if n == name and all(dict(ls).get(k) == x for k, x in labels.items())
    )


def identity_problems(m: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> list[str]:
    problems = []
    received = total(m, "taxmeter_mirror_received_total")
    outcomes = total(m, "taxmeter_mirror_requests_total")
    if received != outcomes:
        problems.append(f"received {received} != outcomes {outcomes}")
    routes = {
        dict(ls).get("route") for (n, ls), _ in m.items() if n == "taxmeter_mirror_requests_total"
    }
    for route in routes:
        assert route is not None
        sampled = total(m, "taxmeter_mirror_requests_total", route=route, outcome="sampled")
        ended = total(m, "taxmeter_shadow_jobs_total", route=route)
        open_ = total(m, "taxmeter_shadow_jobs_open", route=route)
        if sampled != ended + open_:
            problems.append(f"{route}: sampled {sampled} != ended {ended} + open {open_}")
    return problems


@dataclass
class Track:
    start: float
    peak: float
    end: float

    @classmethod
    def of(cls, v: float) -> Track:
        return cls(v, v, v)

    def see(self, v: float) -> None:
        self.peak = max(self.peak, v)
        self.end = v

    def row(self, unit: str = "") -> str:
        return f"{self.start:.0f}{unit} / {self.peak:.0f}{unit} / {self.end:.0f}{unit}"


async def run(args: argparse.Namespace) -> int:
    from prometheus_client import CollectorRegistry
    from taxmeter.app import App
    from taxmeter.config import config_from_dict
    from taxmeter.telemetry.logging import configure_logging

    configure_logging("error")  # the faults make every failed call an info line
    judges = Path(args.judges) if args.judges else None
    if judges is None:
        from judges_fixtures import write_judge

        judges = Path(tempfile.mkdtemp(prefix="taxmeter-soak-")) / "judges"
        write_judge(judges)

    rng = random.Random(args.seed)
    t0 = [time.monotonic()]
    schedules = {
        arm: Schedule.make(rng, args.duration_s, args.segment_s) for arm in ("guarded", "unguarded")
    }
    endpoints = {arm: FaultEndpoint(arm, schedules[arm], t0) for arm in schedules}
    urls = {arm: await ep.start() for arm, ep in endpoints.items()}
    doc = {
        "routes": ["chat", "search"],
        "ingress": {"host": "127.0.0.1", "grpc_port": 0, "http_port": 0},
        "sampling": {
            "rate": args.sample_rate,
            "salt": "soak",
            "max_shadows_per_s": 1000,
            "burst_shadows": 1000,
        },
        "shadow": {
            "guarded": {"base_url": urls["guarded"], "timeout_s": ARM_TIMEOUT_S},
            "unguarded": {"base_url": urls["unguarded"], "timeout_s": ARM_TIMEOUT_S},
            "queue_size": 64,
            "concurrency": 8,
            "noise_floor_rate": 0.05,
            "drain_grace_s": 10,
        },
        "judges": {"repository": str(judges), "providers": ["cpu"], "intra_op_threads": 1},
        "telemetry": {"metrics_host": "127.0.0.1", "metrics_port": 0, "log_level": "error"},
    }
    app = App(config_from_dict(doc), env={}, registry=CollectorRegistry())
    ports = await app.start()
    await app.engine.wait_ready(120)

    rss, fds = Track.of(rss_mb()), Track.of(float(open_fds()))
    tasks = Track.of(float(len(asyncio.all_tasks())))
    queue_peak = 0.0
    scrapes = failed_scrapes = 0
    first_problem: list[str] = []
    sender = Sender()

    def faulted() -> bool:
        now = time.monotonic() - t0[0]
        return any(s.mode(now) != "ok" for s in schedules.values())

    t0[0] = time.monotonic()
    stop_at = t0[0] + args.duration_s
    send = asyncio.create_task(send_loop(args, ports.grpc, ports.http, sender, faulted, stop_at))
    while not send.done():
        await asyncio.wait({send}, timeout=args.scrape_s)
        m = await asyncio.to_thread(fetch, ports.metrics)
        scrapes += 1
        problems = identity_problems(m)
        sent_now = sum(sender.sent.values())
        if total(m, "taxmeter_mirror_received_total") > sent_now:
            problems.append("received more than sent")
        if problems:
            failed_scrapes += 1
            first_problem = first_problem or problems
        rss.see(rss_mb())
        fds.see(float(open_fds()))
        tasks.see(float(len(asyncio.all_tasks())))
        queue_peak = max(queue_peak, total(m, "taxmeter_shadow_jobs_open", state="queued"))
    await send
    # quiesce: every job ends (hangs time out), then the final exact comparisons
    async with asyncio.timeout(120):
        while app.ledger.open_jobs():  # noqa: ASYNC110 (no wake-up event to wait on)
            await asyncio.sleep(0.1)
    m = await asyncio.to_thread(fetch, ports.metrics)
    final_problems = identity_problems(m)
    for transport, n in sender.sent.items():
        got = total(m, "taxmeter_mirror_received_total", transport=transport)
        if got != n:
            final_problems.append(f"{transport}: received {got} != sent {n}")
    for arm, ep in endpoints.items():
        got = total(m, "taxmeter_shadow_requests_total", arm=arm)
        if got != ep.count:
            final_problems.append(f"{arm}: taxmeter counted {got} calls, endpoint saw {ep.count}")
    rss.see(rss_mb())
    fds.see(float(open_fds()))
    tasks.see(float(len(asyncio.all_tasks())))
    await app.stop()
    for ep in endpoints.values():
        await ep.aclose()

    clean99 = percentile(sender.lat_clean, 0.99)
    fault99 = percentile(sender.lat_faulted, 0.99)
    injected = schedules["guarded"].injected() + schedules["unguarded"].injected()
    served: Counter[str] = Counter()
    for ep in endpoints.values():
        served.update(ep.by_mode)
    print(
        f"# soak: {args.duration_s:.0f} s, seed {args.seed}, rate {args.rate}/s, sample rate "
        f"{args.sample_rate}; {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}"
    )
    rows = [
        (
            "faults injected (segments, both arms)",
            ", ".join(f"{k} {v}" for k, v in sorted(injected.items())),
        ),
        ("endpoint calls by mode", ", ".join(f"{k} {v}" for k, v in sorted(served.items()))),
        ("mirrors sent (grpc / http)", f"{sender.sent['grpc']} / {sender.sent['http']}"),
        ("acked / not acked", f"{sender.acked} / {sender.failed}"),
        (
            "jobs completed / failed / shed",
            f"{total(m, 'taxmeter_shadow_jobs_total', outcome='completed'):.0f} / "
            f"{total(m, 'taxmeter_shadow_jobs_total', outcome='failed'):.0f} / "
            f"{total(m, 'taxmeter_shadow_jobs_total', outcome='shed'):.0f}",
        ),
        (
            "identities at every scrape",
            f"{scrapes - failed_scrapes}/{scrapes} held"
            + (f" (first failure: {first_problem})" if first_problem else ""),
        ),
        (
            "final: received = sent, calls = endpoint counts",
            "held" if not final_problems else "; ".join(final_problems),
        ),
        ("RSS start / peak / end", rss.row(" MB")),
        ("open fds start / peak / end", fds.row()),
        ("asyncio tasks start / peak / end", tasks.row()),
        ("shadow queue peak (queued jobs)", f"{queue_peak:.0f} of 64"),
        ("ack p99 clean / faulted", f"{clean99 * 1000:.1f} ms / {fault99 * 1000:.1f} ms"),
        ("ack p99 ratio faulted / clean (target < 2)", f"{fault99 / clean99:.2f}"),
    ]
    print("| measure | value |")
    print("|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    ok = not failed_scrapes and not final_problems
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration-s", type=float, default=180.0)
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--rate", type=float, default=20.0, help="mirrors per second")
    p.add_argument("--sample-rate", type=float, default=0.3)
    p.add_argument("--segment-s", type=float, default=15.0, help="mean fault segment length")
    p.add_argument("--scrape-s", type=float, default=2.0)
    p.add_argument("--judges", default=None, help="judge repository (default: tiny random)")
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
