"""The per-call cost of the hot paths in two checkouts of the package, measured in paired
batches: for a refactoring that should change nothing (issue 15's module split).

    .venv/bin/python bench/compare_trees.py --base /tmp/base --head . [--pairs 30]

``--base`` and ``--head`` are repository roots (``git worktree add /tmp/base <commit>``).
One worker process per tree, both alive for the whole run, each importing its own
``service/taxmeter``. Every metric is measured in short batches alternating the two workers
(base, head, head, base...), and the ratio head/base is taken per pair of adjacent batches:
both sides of a pair see the same machine load, which on a shared 2-core machine moves
absolute times by 2x or more between runs. Each batch takes some 50 ms. Printed: the
median of each side, the median ratio and its interquartile range. ``--base`` and ``--head``
naming the same tree measure the noise floor.

Metrics: ``MirrorCodec.decode_grpc`` / ``decode_http`` of bench/ingress.py's body;
``AsyncMirrorClient.mirror`` (encode and buffer, outside a loop: nothing is sent);
``OpenAIEndpoint.complete`` against a loopback aiohttp server (one JSON answer, or 40 SSE
chunks); ``TaxAggregator.observe`` and a full scrape through ``TaxCollector`` (20 routes,
3 windows, auditing on, 5 % of the pairs audited).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

METRICS = (
    "codec.decode_grpc_us",
    "codec.decode_http_us",
    "client.mirror_us",
    "endpoint.json_call_ms",
    "endpoint.stream_call_ms",
    "tax.observe_us",
    "tax.scrape_ms",
)


def _timed(fn: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


async def _answer_server() -> int:
    from aiohttp import web

    words = [f"word{i} " for i in range(40)]
    sse = b"".join(
        b"data: "
        + json.dumps({"choices": [{"delta": {"content": w}, "finish_reason": None}]}).encode()
        + b"\n\n"
        for w in words
    )
    sse += (
        b'data: {"choices": [{"delta": {}, "finish_reason": "stop"}], '
        b'"usage": {"prompt_tokens": 10, "completion_tokens": 40}}\n\ndata: [DONE]\n\n'
    )
    plain = json.dumps(
        {
            "choices": [{"message": {"content": "".join(words)}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 40},
        }
    ).encode()

    async def handle(request: web.Request) -> web.StreamResponse:
        data = await request.json()
        if not data.get("stream"):
            return web.Response(body=plain, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(0, len(sse), 200):
            await resp.write(sse[i : i + 200])
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return int(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]


def worker() -> None:
    """Reads a metric name per line, answers with one batch's time per operation."""
    from aggregation import Clock, make_pairs
    from ingress import BODY
    from prometheus_client import CollectorRegistry, generate_latest
    from taxmeter.client import AsyncMirrorClient, ProductionInfo
    from taxmeter.ingress import IngressConfig, MirrorCodec, RouteNormalizer
    from taxmeter.proto.taxmeter.v1 import mirror_pb2
    from taxmeter.shadow.config import EndpointConfig
    from taxmeter.shadow.endpoint import OpenAIEndpoint
    from taxmeter.tax import TaxAggregator, TaxCollector, TaxConfig
    from taxmeter.types import Arm, MirrorRequest, PairReference, ReferenceLabel

    loop = asyncio.new_event_loop()
    codec = MirrorCodec(IngressConfig(), RouteNormalizer(frozenset({"chat"})))
    body = json.dumps(BODY).encode()
    raw = mirror_pb2.MirrorRequest(request_id=b"r-1", route=b"chat", body=body).SerializeToString()
    headers = {"Content-Type": "application/json", "X-Request-Id": "r-1", "Authorization": "x"}

    client = AsyncMirrorClient("127.0.0.1:9", buffer_size=10**7, batch_max=10**7)
    production = ProductionInfo("the answer " * 20, "guarded", 1.2, 0.1, 30, 40, "stop")

    clock = Clock()
    registry = CollectorRegistry()
    agg = TaxAggregator(TaxConfig(windows=["5m", "1h", "24h"]), clock=clock, audit_min_pairs=30)
    registry.register(TaxCollector(agg))
    ref = PairReference(ReferenceLabel(False, False, 0.8), ReferenceLabel(False, False, 0.9))
    pairs = [
        dataclasses.replace(p, reference=ref) if i % 20 == 0 else p
        for i, p in enumerate(make_pairs(6000, 20, seed=4))
    ]
    for i, p in enumerate(pairs[:4000]):
        clock.now = i * 0.5
        agg.observe(p)
    observed = [4000]

    port = loop.run_until_complete(_answer_server())
    endpoints = {
        mode: OpenAIEndpoint(
            Arm.GUARDED, EndpointConfig(base_url=f"http://127.0.0.1:{port}/v1", stream=mode)
        )
        for mode in ("never", "always")
    }
    request = MirrorRequest("id", "chat", None, BODY, body)

    async def calls(mode: str, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            result = await endpoints[mode].complete(request)
            assert result.outcome.answered, result
        return (time.perf_counter() - t0) / n

    def observe_batch() -> float:
        t0 = time.perf_counter()
        for _ in range(1000):
            i = observed[0]
            clock.now = i * 0.5
            agg.observe(pairs[i % len(pairs)])
            observed[0] += 1
        return (time.perf_counter() - t0) / 1000

    def mirror_batch() -> float:
        t = _timed(lambda: client.mirror(BODY, route="chat", production=production), 6000)
        client._buffer.clear()  # nothing is ever sent: keep the buffer from growing
        return t

    measure: dict[str, Callable[[], float]] = {
        "codec.decode_grpc_us": lambda: _timed(lambda: codec.decode_grpc(raw), 8000) * 1e6,
        "codec.decode_http_us": lambda: (
            _timed(lambda: codec.decode_http(body, headers, "/mirror/chat/x"), 8000) * 1e6
        ),
        "client.mirror_us": lambda: mirror_batch() * 1e6,
        "endpoint.json_call_ms": lambda: loop.run_until_complete(calls("never", 200)) * 1e3,
        "endpoint.stream_call_ms": lambda: loop.run_until_complete(calls("always", 80)) * 1e3,
        "tax.observe_us": lambda: observe_batch() * 1e6,
        "tax.scrape_ms": lambda: _timed(lambda: generate_latest(registry), 3) * 1e3,
    }
    for fn in measure.values():  # warm up
        fn()
    print("ready", flush=True)
    for line in sys.stdin:
        print(f"{measure[line.strip()]():.6f}", flush=True)
    for ep in endpoints.values():
        loop.run_until_complete(ep.aclose())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=Path, help="repository root of the reference tree")
    ap.add_argument("--head", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--pairs", type=int, default=30, help="batch pairs per metric")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker()
        return
    if args.base is None:
        ap.error("--base is required")
    workers: dict[str, Any] = {}
    for side, root in (("base", args.base), ("head", args.head)):
        env = {**os.environ, "PYTHONPATH": str(root.resolve() / "service")}
        workers[side] = subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
    for w in workers.values():
        if w.stdout.readline().strip() != "ready":
            raise SystemExit("a worker failed to start")

    def ask(side: str, metric: str) -> float:
        w = workers[side]
        w.stdin.write(metric + "\n")
        w.stdin.flush()
        return float(w.stdout.readline())

    print(
        f"base {args.base}, head {args.head}; {args.pairs} batch pairs per metric, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'metric':24s} {'base med':>9s} {'head med':>9s} {'head/base':>9s}  IQR of the ratio")
    for metric in METRICS:
        base: list[float] = []
        head: list[float] = []
        ratios: list[float] = []
        for i in range(args.pairs):
            order = ("base", "head") if i % 2 == 0 else ("head", "base")
            got = {side: ask(side, metric) for side in order}
            base.append(got["base"])
            head.append(got["head"])
            ratios.append(got["head"] / got["base"])
        q = statistics.quantiles(ratios, n=4)
        print(
            f"{metric:24s} {statistics.median(base):9.3f} {statistics.median(head):9.3f} "
            f"{statistics.median(ratios):8.3f}x  {q[0]:.3f}-{q[2]:.3f}",
            flush=True,
        )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    for w in workers.values():
        w.stdin.close()
        w.wait(timeout=60)


if __name__ == "__main__":
    main()
