"""``taxmeter replay`` throughput, measured side by side in one run.

1. Endpoint concurrency: the demo's simulated endpoints on loopback (real HTTP, demo latencies:
   40-120 ms plus the guarded persona's guard latency), each wrapped by a middleware that
   counts requests in flight. Replay of N prompts at ``--concurrency C``: the time-weighted mean
   of in-flight requests at each endpoint over the middle 80 % of the run, against C
   (target >= 0.9x), and the maximum (must not exceed C). Judge: a tiny random-weight one, so
   that the runner, not judging, is what is measured.
2. Judging time per pair: the same recorded pairs judged by replay (``ReplayRunner.judge_only``
   through ``JudgingSink`` into the resume log) and by the sidecar's own wiring (``App``'s
   judge engine and aggregator behind a ``JudgingSink``, fed with the same number of
   concurrent pairs), alternating, same judges (target: ratio within 0.9-1.1x).

    PYTHONPATH=service .venv/bin/python bench/replay.py [--repo DIR] [--prompts 400]
        [--concurrency 16] [--pairs 200] [--rounds 2]

``--repo`` is the judge repository for part 2 (default: ``$TAXMETER_DEFAULT_JUDGES``, else a
MiniLM-L6-shaped random-weight judge).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from taxmeter.app import App  # noqa: E402
from taxmeter.config import config_from_dict  # noqa: E402
from taxmeter.demo.config import DemoConfig  # noqa: E402
from taxmeter.demo.endpoints import SimulatedEndpoint  # noqa: E402
from taxmeter.pipeline import JudgingSink  # noqa: E402
from taxmeter.replay.offline import compose, pair_of  # noqa: E402
from taxmeter.replay.prompts import builtin_demo  # noqa: E402
from taxmeter.replay.runner import ReplayOptions, ReplayRunner  # noqa: E402
from taxmeter.replay.store import JsonlLog, iter_log  # noqa: E402
from taxmeter.shadow.endpoint import build_endpoints  # noqa: E402
from taxmeter.types import ShadowPair  # noqa: E402


class InFlight:
    """Requests in flight at one endpoint, as a step function of time."""

    def __init__(self) -> None:
        self.now = 0
        self.max = 0
        self.events: list[tuple[float, int]] = []
        self.busy_s = 0.0
        self.calls = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self._step(+1)
        t = time.monotonic()
        try:
            resp: web.StreamResponse = await handler(request)
            return resp
        finally:
            self.busy_s += time.monotonic() - t
            self.calls += 1
            self._step(-1)

    def _step(self, d: int) -> None:
        self.now += d
        self.max = max(self.max, self.now)
        self.events.append((time.monotonic(), self.now))

    def mean(self, t0: float, t1: float) -> float:
        area, level, last = 0.0, 0, t0
        for t, n in self.events:
            if t > t1:
                break
            if t > t0:
                area += level * (t - last)
                last = t
            level = n
        area += level * (t1 - last)
        return area / (t1 - t0)


async def serve(ep: SimulatedEndpoint, counter: InFlight) -> tuple[web.AppRunner, str]:
    app = ep.app()
    app.middlewares.append(counter.middleware)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/v1"


def document(g_url: str, u_url: str, judges: Path, concurrency: int) -> dict[str, Any]:
    demo = DemoConfig()
    return {
        "routes": [r.name for r in demo.routes],
        "categories": ["support", "coding", "health", "writing"],
        "ingress": {"host": "127.0.0.1", "grpc_port": 0, "http_port": 0},
        "shadow": {
            "guarded": {"base_url": g_url, "timeout_s": 30},
            "unguarded": {"base_url": u_url, "timeout_s": 30},
            "concurrency": concurrency,
            "noise_floor_rate": 0.0,
        },
        "judges": {
            "repository": str(judges),
            "providers": ["cpu"],
            "intra_op_threads": 1,
            "max_batch_size": 16,
        },
        "telemetry": {"metrics_port": 0, "log_level": "warning"},
    }


async def part1(tmp: Path, n: int, concurrency: int, record: Path) -> None:
    from judges_fixtures import write_judge

    tiny = tmp / "tiny"
    write_judge(tiny)
    demo = DemoConfig()
    counters = {"guarded": InFlight(), "unguarded": InFlight()}
    runners, urls = [], []
    for persona in ("guarded", "unguarded"):
        ep = SimulatedEndpoint(persona, demo.routes, demo.seed)
        r, url = await serve(ep, counters[persona])
        runners.append(r)
        urls.append(url)
    config = config_from_dict(document(urls[0], urls[1], tiny, concurrency))
    header = {"version": 1, "prompts": "bench", "n": n}
    log = JsonlLog(tmp / "p1.jsonl", header, fresh=True)
    rec = JsonlLog(record, header, fresh=True)
    engine, sink = compose(config, log, rec, CollectorRegistry())
    await engine.start()
    await engine.wait_ready()
    g, u = build_endpoints(config.shadow, {})
    runner = ReplayRunner(
        g,
        u,
        sink,
        log,
        ReplayOptions(concurrency=concurrency, noise_floor_rate=0.0, judge_tasks=32),
        record=rec,
    )
    t0 = time.monotonic()
    await runner.run(builtin_demo(n))
    t1 = time.monotonic()
    for component in (g, u, engine):
        await component.aclose()
    log.close()
    rec.close()
    for r in runners:
        await r.cleanup()
    lo, hi = t0 + 0.1 * (t1 - t0), t1 - 0.1 * (t1 - t0)
    print(
        f"1. endpoint concurrency: {n} prompts at --concurrency {concurrency} in "
        f"{t1 - t0:.1f} s ({n / (t1 - t0):.1f} prompts/s), scored {runner.counts.scored}"
    )
    lat = {arm: c.busy_s / max(c.calls, 1) for arm, c in counters.items()}
    slow = max(lat, key=lambda a: lat[a])
    for arm, c in counters.items():
        mean = c.mean(lo, hi)
        # Both arms get each prompt at the same moment (as in the sidecar), so the slower arm
        # is held at C and the faster one, by Little's law, at C x its share of the latency.
        expect = concurrency * lat[arm] / lat[slow]
        print(
            f"   {arm:9s}: mean in flight {mean:.2f} over the middle 80 % "
            f"({mean / concurrency:.2f}x of {concurrency}), max {c.max}; mean time in the "
            f"endpoint {lat[arm] * 1000:.0f} ms; Little's law bound {expect:.2f} "
            f"(measured {mean / expect:.2f}x of it; target >= 0.9x)"
        )


async def part2(tmp: Path, record: Path, judges: Path, pairs_n: int, rounds: int) -> None:
    pairs: list[ShadowPair] = [
        pair_of(e)
        for e in iter_log(record)
        if e.get("kind") != "header" and e.get("status") == "scored"
    ][:pairs_n]
    config = config_from_dict(
        document("http://127.0.0.1:1/v1", "http://127.0.0.1:1/v1", judges, 16)
    )
    tasks = max(2 * config.judges.max_batch_size, 8)

    async def replay_path(k: int) -> float:
        log = JsonlLog(tmp / f"p2-{k}.jsonl", {"version": 1, "prompts": "b", "n": 0}, fresh=True)
        engine, sink = compose(config, log, None, CollectorRegistry())
        await engine.start()
        await engine.wait_ready()
        runner = ReplayRunner(_Never(), _Never(), sink, log, ReplayOptions(judge_tasks=tasks))
        t = time.perf_counter()
        await runner.judge_only(pairs)
        dt = time.perf_counter() - t
        assert runner.counts.scored == len(pairs)
        await engine.aclose()
        log.close()
        return dt / len(pairs)

    async def sidecar_path() -> float:
        app = App(config, env={}, registry=CollectorRegistry(), serve_metrics=False)
        await app.engine.start()
        await app.engine.wait_ready()
        sink = JudgingSink(app.engine, app.aggregator)  # app.py's wiring
        queue: asyncio.Queue[ShadowPair] = asyncio.Queue()
        for p in pairs:
            queue.put_nowait(p)

        async def worker() -> None:
            while not queue.empty():
                await sink.accept(queue.get_nowait())

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        dt = time.perf_counter() - t
        assert app.aggregator.summary("support-chat").pairs_total >= 0
        await app.engine.aclose()
        return dt / len(pairs)

    rep, side = [], []
    for k in range(rounds):
        rep.append(await replay_path(k))
        side.append(await sidecar_path())
    r, s = statistics.median(rep), statistics.median(side)
    print(
        f"2. judging per pair ({len(pairs)} recorded pairs, {tasks} concurrent, {rounds} "
        f"rounds alternating): replay {r * 1000:.2f} ms, sidecar engine {s * 1000:.2f} ms, "
        f"replay/sidecar {r / s:.2f}x (target 0.9-1.1x)"
    )
    print(
        f"   rounds: replay {[round(x * 1000, 2) for x in rep]} ms, "
        f"sidecar {[round(x * 1000, 2) for x in side]} ms"
    )


class _Never:
    async def complete(self, request: Any) -> Any:
        raise AssertionError("not called")

    async def aclose(self) -> None:
        return None


def judges_for_part2(repo: Path | None, tmp: Path) -> tuple[Path, str]:
    given = repo or (
        Path(os.environ["TAXMETER_DEFAULT_JUDGES"])
        if os.environ.get("TAXMETER_DEFAULT_JUDGES")
        else None
    )
    if given is not None:
        return given, f"judges from {given}"
    from judges_fixtures import default_manifest, make_judge_graph, write_judge

    model = make_judge_graph(layers=6, hidden=384, heads=12, ffn=1536)
    write_judge(
        tmp / "minilm",
        manifest=default_manifest(input={"kind": "dual", "max_length": 256}),
        model=model,
    )
    return tmp / "minilm", "a MiniLM-L6-shaped random-weight judge"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, default=None)
    ap.add_argument("--prompts", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        record = tmp / "record.jsonl"
        await part1(tmp, args.prompts, args.concurrency, record)
        judges, what = judges_for_part2(args.repo, tmp)
        print(f"   part 2 uses {what}")
        await part2(tmp, record, judges, args.pairs, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
