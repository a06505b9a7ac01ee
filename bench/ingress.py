"""Ingress benchmark: taxmeter's gRPC Mirror and HTTP sink against bare servers of the same
library, measured side by side in one run, printed as ratios.

    .venv/bin/python bench/ingress.py [--duration-s 4] [--rate 1000]

Each server runs in its own process (multiprocessing, spawn), and so does the load generator,
so that neither shares the other's core budget on a small machine. For each transport:

* **throughput**: closed loop, ``--concurrency`` requests in flight, for ``--duration-s``;
* **ack latency**: open loop, requests sent on a fixed schedule at ``--rate`` req/s, latency
  measured from each request's *intended* send time (no coordinated omission), p50/p99.

The taxmeter servers use the real intake: ``Sampler`` (ledger, token-bucket budget, adaptive
rate) in front of a real ``ShadowDispatcher`` whose two endpoints answer after
``--endpoint-latency-s`` (slow), with the queue full and every worker busy (sample rate 0.2,
16 workers, queue 64). No judges (the pair sink discards). The bare servers decode nothing
and answer a constant ack with the same handler shape (raw-bytes generic handler for gRPC; an
aiohttp route that reads the body for HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import statistics
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

KINDS = ("grpc_bare", "grpc", "http_bare", "http")
BODY: dict[str, Any] = {
    "model": "prod-model",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant for an online shop. " * 4},
        {"role": "user", "content": "Can you help me compare these two laptops for coding? " * 6},
    ],
    "temperature": 0.3,
    "max_completion_tokens": 256,
}


# -- servers (child process) ---------------------------------------------------------------


def _serve(kind: str, endpoint_latency_s: float, conn: Connection) -> None:
    asyncio.run(_serve_async(kind, endpoint_latency_s, conn))


async def _serve_async(kind: str, endpoint_latency_s: float, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(conn.fileno(), stop.set)
    report: dict[str, Any] = {}
    if kind == "grpc_bare":
        server, port = await _bare_grpc()
        conn.send(port)
        await stop.wait()
        await server.stop(0)
    elif kind == "http_bare":
        runner, port = await _bare_http()
        conn.send(port)
        await stop.wait()
        await runner.cleanup()
    else:
        from taxmeter.ingress import GrpcIngress, HttpSink, IngressConfig, RouteNormalizer

        intake, ledger, dispatcher = _real_intake(endpoint_latency_s)
        await dispatcher.start()
        config = IngressConfig(host="127.0.0.1", grpc_port=0, http_port=0)
        normalizer = RouteNormalizer(frozenset({"chat"}))
        edge: Any = (GrpcIngress if kind == "grpc" else HttpSink)(config, intake, normalizer)
        port = await edge.start()
        conn.send(port)
        await stop.wait()
        await (edge.stop(0) if kind == "grpc" else edge.stop())
        snap = ledger.snapshot()
        report = {
            "requests": {f"{r}/{o}": v for (r, o), v in sorted(snap.requests.items())},
            "open": {f"{r}/{s}": v for (r, s), v in sorted(snap.open.items())},
        }
        await dispatcher.drain(0)
    conn.recv()
    conn.send(report)


def _real_intake(endpoint_latency_s: float) -> tuple[Any, Any, Any]:
    from opentelemetry import trace
    from prometheus_client import CollectorRegistry
    from taxmeter.sampling import Sampler, SamplingConfig
    from taxmeter.shadow.config import EndpointConfig, ShadowConfig
    from taxmeter.shadow.dispatcher import ShadowDispatcher
    from taxmeter.shadow.metrics import ShadowMetrics
    from taxmeter.telemetry.ledger import Ledger
    from taxmeter.types import ArmOutcome, ArmResult, MirrorRequest, ShadowPair, SystemClock

    class SlowEndpoint:
        def __init__(self, arm: Any) -> None:
            self.arm = arm

        async def complete(self, request: MirrorRequest) -> ArmResult:
            await asyncio.sleep(endpoint_latency_s)
            return ArmResult(self.arm, ArmOutcome.OK, text="ok", latency_s=endpoint_latency_s)

        async def aclose(self) -> None:
            return None

    class DiscardSink:
        async def accept(self, pair: ShadowPair) -> None:
            return None

    from taxmeter.types import Arm

    registry = CollectorRegistry()
    ledger = Ledger(registry)
    arm = EndpointConfig(base_url="http://127.0.0.1:9/v1")
    shadow = ShadowConfig(
        guarded=arm,
        unguarded=arm,
        queue_size=64,
        concurrency=16,
        production_arm="none",
        noise_floor_rate=0.0,
    )
    dispatcher = ShadowDispatcher(
        shadow,
        SlowEndpoint(Arm.GUARDED),
        SlowEndpoint(Arm.UNGUARDED),
        DiscardSink(),
        ledger,
        ShadowMetrics(registry),
        tracer=trace.NoOpTracer(),
        clock=SystemClock(),
    )
    sampler = Sampler(
        SamplingConfig(rate=0.2, max_shadows_per_s=200.0, burst_shadows=200.0),
        dispatcher,
        ledger,
        registry,
    )
    return sampler, ledger, dispatcher


async def _bare_grpc() -> tuple[Any, int]:
    import grpc
    from taxmeter.proto.taxmeter.v1 import mirror_pb2

    ack: bytes = mirror_pb2.MirrorAck(
        request_id="x", sampled=False, decision=mirror_pb2.MirrorAck.NOT_SAMPLED
    ).SerializeToString()

    async def mirror(raw: bytes, context: Any) -> bytes:
        return ack

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "taxmeter.v1.MirrorService", {"Mirror": grpc.unary_unary_rpc_method_handler(mirror)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def _bare_http() -> tuple[Any, int]:
    import socket

    from aiohttp import web

    text = json.dumps(
        {"request_id": "x", "sampled": False, "decision": "not_sampled", "reason": ""}
    )

    async def mirror(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202, content_type="application/json", text=text)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", mirror)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)
    await web.SockSite(runner, sock).start()
    return runner, sock.getsockname()[1]


# -- load generator (child process) --------------------------------------------------------


@dataclass
class LoadResult:
    throughput_rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    sent_open: int
    errors: int


def _load(transport: str, port: int, args: dict[str, Any], out: Connection) -> None:
    out.send(asyncio.run(_load_async(transport, port, args)))


async def _load_async(transport: str, port: int, a: dict[str, Any]) -> LoadResult:
    n_ids = 20_000
    errors = 0
    if transport == "grpc":
        import grpc
        from taxmeter.proto.taxmeter.v1 import mirror_pb2

        body = json.dumps(BODY).encode()
        payloads = [
            mirror_pb2.MirrorRequest(
                request_id=f"req-{i}".encode(), route=b"chat", body=body
            ).SerializeToString()
            for i in range(n_ids)
        ]
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        call = channel.unary_unary("/taxmeter.v1.MirrorService/Mirror")
        await channel.channel_ready()

        async def send(i: int) -> None:
            await call(payloads[i % n_ids], timeout=10)

        async def close() -> None:
            await channel.close()
    else:
        import aiohttp

        body = json.dumps(BODY).encode()
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        headers = [
            {
                "x-request-id": f"req-{i}",
                "x-taxmeter-route": "chat",
                "content-type": "application/json",
            }
            for i in range(n_ids)
        ]

        async def send(i: int) -> None:
            async with session.post(url, data=body, headers=headers[i % n_ids]) as resp:
                await resp.read()
                if resp.status != 202:
                    raise RuntimeError(resp.status)

        async def close() -> None:
            await session.close()

    # Warm-up.
    await asyncio.gather(*(send(i) for i in range(200)))

    # Closed-loop throughput.
    done = 0
    deadline = time.perf_counter() + a["duration_s"]

    async def worker(w: int) -> None:
        nonlocal done, errors
        i = w
        while time.perf_counter() < deadline:
            try:
                await send(i)
                done += 1
            except Exception:
                errors += 1
            i += a["concurrency"]

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(a["concurrency"])))
    throughput = done / (time.perf_counter() - t0)

    # Open-loop latency from the intended send time.
    rate, n = a["rate"], int(a["rate"] * a["duration_s"])
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def timed(i: int, intended: float) -> None:
        nonlocal errors
        try:
            await send(i)
            latencies.append(time.perf_counter() - intended)
        except Exception:
            errors += 1

    start = time.perf_counter() + 0.05
    for i in range(n):
        intended = start + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(timed(i, intended))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    await close()
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return LoadResult(throughput, q[49] * 1e3, q[98] * 1e3, latencies[-1] * 1e3, n, errors)


# -- orchestration -------------------------------------------------------------------------


def run_one(kind: str, args: argparse.Namespace) -> tuple[LoadResult, dict[str, Any]]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(kind, args.endpoint_latency_s, child))
    server.start()
    port = parent.recv()
    out_r, out_w = ctx.Pipe(duplex=False)
    transport = "grpc" if kind.startswith("grpc") else "http"
    gen = ctx.Process(target=_load, args=(transport, port, vars(args), out_w))
    gen.start()
    result: LoadResult = out_r.recv()
    gen.join()
    parent.send("stop")
    parent.send("report")
    report: dict[str, Any] = parent.recv()
    server.join(10)
    return result, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration-s", type=float, default=4.0)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--endpoint-latency-s", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transports", default="grpc,http", help="comma-separated subset")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; duration {args.duration_s}s per phase, "
        f"open-loop rate {args.rate:.0f}/s, closed-loop concurrency {args.concurrency}"
    )
    transports = [t for t in ("grpc", "http") if t in args.transports.split(",")]
    kinds = [k for k in KINDS if k.split("_")[0] in transports]
    runs: dict[str, list[LoadResult]] = {k: [] for k in kinds}
    # Rounds interleave bare and taxmeter runs, so that noise from other processes on the
    # machine hits both alike; the medians over rounds are compared.
    for rnd in range(args.rounds):
        for kind in kinds:
            res, report = run_one(kind, args)
            runs[kind].append(res)
            print(
                f"round {rnd + 1} {kind:10s} throughput {res.throughput_rps:7.0f} req/s | "
                f"open-loop {res.sent_open} req: p50 {res.p50_ms:6.2f} ms  "
                f"p99 {res.p99_ms:6.2f} ms  max {res.max_ms:7.2f} ms | errors {res.errors}"
            )
            if report:
                print(f"{'':19s} intake outcomes: {report['requests']}")
                print(f"{'':19s} jobs open at end: {report['open']}")
    med = {k: _median(v) for k, v in runs.items()}
    for transport in transports:
        bare, ours = med[f"{transport}_bare"], med[transport]
        print(
            f"MEDIAN {transport:4s}: bare {bare.throughput_rps:6.0f} req/s, "
            f"p50 {bare.p50_ms:.2f} ms, p99 {bare.p99_ms:.2f} ms | "
            f"taxmeter {ours.throughput_rps:6.0f} req/s, "
            f"p50 {ours.p50_ms:.2f} ms, p99 {ours.p99_ms:.2f} ms"
        )
        print(
            f"RATIO {transport:4s}: throughput taxmeter/bare = "
            f"{ours.throughput_rps / bare.throughput_rps:.2f}x (target >= 0.8x); "
            f"p99 ack taxmeter/bare = {ours.p99_ms / bare.p99_ms:.2f}x; "
            f"taxmeter p99 {ours.p99_ms:.2f} ms at {args.rate:.0f} req/s (target < 5 ms)"
        )


def _median(results: list[LoadResult]) -> LoadResult:
    def m(attr: str) -> float:
        return float(statistics.median(getattr(r, attr) for r in results))

    return LoadResult(
        m("throughput_rps"),
        m("p50_ms"),
        m("p99_ms"),
        m("max_ms"),
        results[0].sent_open,
        sum(r.errors for r in results),
    )


if __name__ == "__main__":
    main()
