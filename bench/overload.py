"""Overload: ~10× more sampled traffic than the shadow workers can serve, for a minute.

Three processes, all on loopback:

- **endpoints** (``--role endpoints``): the demo's simulated guarded/unguarded personas, slowed
  down to answer in ~1–2 s (``--latency-scale``);
- **sidecar** (this process): the real ``taxmeter.app.App`` with a small ``shadow.concurrency``,
  judges from a tiny random-weight repository (or ``--judges DIR``); samples its own RSS
  (``/proc/self/status`` VmRSS) every second;
- **load** (``--role load``): an open-loop sender of unary ``Mirror`` calls on a fixed schedule
  (request *i* is due at ``t0 + i/rate``, sent whether or not earlier ones were answered); ack
  latency is measured from the scheduled time, so a stalled sidecar cannot hide its stalls.

Printed: RSS growth (target < 50 MB), ack latency p50/p99/max, what the sender was told, and
the sidecar's accounting at the end of the load and after the drain: where every excess job
went (dropped_queue_full, dropped_budget, not_sampled because of the adaptive scale), the
adaptive ``taxmeter_sampling_scale``, and the identities of DESIGN.md checked on that snapshot.

    .venv/bin/python bench/overload.py                 # 60 s
    .venv/bin/python bench/overload.py --duration-s 20 --rate 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

SALT = "overload-bench"
SCRIPT = str(Path(__file__).resolve())


# -- helpers ---------------------------------------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# -- role: endpoints ---------------------------------------------------------------------------


async def run_endpoints(latency_scale: float) -> None:
    from taxmeter.demo.config import DemoConfig
    from taxmeter.demo.endpoints import SimulatedEndpoint

    demo = DemoConfig()
    guarded = SimulatedEndpoint("guarded", demo.routes, demo.seed, latency_scale=latency_scale)
    unguarded = SimulatedEndpoint("unguarded", demo.routes, demo.seed, latency_scale=latency_scale)
    urls = {"guarded": await guarded.start(), "unguarded": await unguarded.start()}
    print(json.dumps(urls), flush=True)
    # until the parent closes our stdin
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await guarded.aclose()
    await unguarded.aclose()


# -- role: load --------------------------------------------------------------------------------


async def run_load(target: str, rate: float, duration_s: float, sample_rate: float) -> None:
    import grpc
    from taxmeter.demo.config import DemoConfig
    from taxmeter.demo.traffic import TrafficPlan
    from taxmeter.proto.taxmeter.v1 import mirror_pb2
    from taxmeter.sampling.sampler import sample_point

    demo = DemoConfig()
    plan = TrafficPlan(demo)
    n = int(rate * duration_s)
    messages: list[bytes] = []
    eligible: list[bool] = []
    for i in range(n):
        p = plan.next()
        rid = f"ov-{i}"
        messages.append(
            mirror_pb2.MirrorRequest(
                request_id=rid.encode(),
                route=p.route.name.encode(),
                body=json.dumps(p.body(demo.seed)).encode(),
            ).SerializeToString()
        )
        eligible.append(sample_point(SALT, rid) < sample_rate)
    latencies: list[float] = []
    lag: list[float] = []
    decisions: Counter[str] = Counter()
    adaptive_not_sampled = 0
    errors: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(target) as channel:
        mirror = channel.unary_unary(
            "/taxmeter.v1.MirrorService/Mirror",
            request_serializer=None,
            response_deserializer=mirror_pb2.MirrorAck.FromString,
        )

        async def send(i: int, due: float) -> None:
            nonlocal adaptive_not_sampled
            lag.append(time.perf_counter() - due)
            try:
                ack = await mirror(messages[i], timeout=10)
            except grpc.aio.AioRpcError as exc:
                errors[exc.code().name] += 1
                return
            latencies.append(time.perf_counter() - due)
            name = mirror_pb2.MirrorAck.Decision.Name(ack.decision)
            decisions[name] += 1
            if eligible[i] and name == "NOT_SAMPLED":
                adaptive_not_sampled += 1

        tasks: set[asyncio.Task[None]] = set()
        t0 = time.perf_counter() + 0.2
        for i in range(n):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(send(i, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "sent": n,
                "elapsed_s": elapsed,
                "acked": len(latencies),
                "errors": dict(errors),
                "decisions": dict(decisions),
                "hash_eligible": sum(eligible),
                "not_sampled_by_adaptive_scale": adaptive_not_sampled,
                "ack_p50_ms": percentile(latencies, 0.50) * 1000,
                "ack_p99_ms": percentile(latencies, 0.99) * 1000,
                "ack_max_ms": max(latencies, default=float("nan")) * 1000,
                "send_lag_p99_ms": percentile(lag, 0.99) * 1000,
            }
        ),
        flush=True,
    )


# -- role: sidecar (main) ----------------------------------------------------------------------


def _family_totals(registry: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for fam in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def _total(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return sum(
        v
        for (n, ls), v in samples.items()
        if n == name and all(dict(ls).get(k) == x for k, x in labels.items())
    )


def _print_accounting(
    title: str,
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float],
) -> bool:
    received = _total(samples, "taxmeter_mirror_received_total")
    outcomes = ("sampled", "not_sampled", "dropped_queue_full", "dropped_budget", "rejected")
    print(f"  {title}:")
    print(
        f"    received {received:.0f} = "
        + " + ".join(
            f"{o} {_total(samples, 'taxmeter_mirror_requests_total', outcome=o):.0f}"
            for o in outcomes
        )
    )
    jobs = {
        o: _total(samples, "taxmeter_shadow_jobs_total", outcome=o)
        for o in ("completed", "failed", "shed")
    }
    open_ = {
        s: _total(samples, "taxmeter_shadow_jobs_open", state=s) for s in ("queued", "in_flight")
    }
    sampled = _total(samples, "taxmeter_mirror_requests_total", outcome="sampled")
    print(
        f"    sampled {sampled:.0f} = "
        + " + ".join(f"{k} {v:.0f}" for k, v in (*jobs.items(), *open_.items()))
    )
    shed = {
        dict(ls).get("reason", "?"): v
        for (n, ls), v in samples.items()
        if n == "taxmeter_shadow_jobs_shed_total" and v
    }
    if shed:
        print(f"    shed by reason: {shed}")
    print(f"    taxmeter_sampling_scale {_total(samples, 'taxmeter_sampling_scale'):.4g}")
    ok = received == _total(samples, "taxmeter_mirror_requests_total")
    routes = {dict(ls)["route"] for (n, ls) in samples if n == "taxmeter_mirror_requests_total"}
    for route in routes:
        s = _total(samples, "taxmeter_mirror_requests_total", route=route, outcome="sampled")
        e = _total(samples, "taxmeter_shadow_jobs_total", route=route)
        o = _total(samples, "taxmeter_shadow_jobs_open", route=route)
        ok = ok and s == e + o
    print(
        f"    identities (received = Σ outcomes; per route sampled = ended + open): "
        f"{'hold' if ok else 'BROKEN'}"
    )
    return ok


async def run_sidecar(args: argparse.Namespace, urls: dict[str, str], judges: Path) -> int:
    from prometheus_client import CollectorRegistry
    from taxmeter.app import App
    from taxmeter.config import config_from_dict

    doc = {
        "routes": ["support-chat", "code-assist", "health-info", "writing"],
        "ingress": {"host": "127.0.0.1", "grpc_port": 0, "http_port": 0},
        "sampling": {
            "rate": args.sample_rate,
            "salt": SALT,
            "max_shadows_per_s": args.max_shadows_per_s,
            "burst_shadows": args.max_shadows_per_s * 2,
        },
        "shadow": {
            "guarded": {"base_url": urls["guarded"], "timeout_s": 30},
            "unguarded": {"base_url": urls["unguarded"], "timeout_s": 30},
            "queue_size": args.queue_size,
            "concurrency": args.concurrency,
            "drain_grace_s": 5,
        },
        "judges": {"repository": str(judges), "providers": ["cpu"], "intra_op_threads": 1},
        "telemetry": {"metrics_host": "127.0.0.1", "metrics_port": 0, "log_level": "warning"},
    }
    from taxmeter.telemetry.logging import configure_logging

    configure_logging("warning", "console")
    registry = CollectorRegistry()
    app = App(config_from_dict(doc), env={}, registry=registry)
    ports = await app.start()
    await app.engine.wait_ready(120)
    # baseline: the sidecar started, judges warm, no traffic yet
    rss_start = rss_mb()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; python "
        f"{platform.python_version()}; load average before: {load_average()}"
    )
    print(
        f"config: sample rate {args.sample_rate}, shadow concurrency {args.concurrency}, "
        f"queue {args.queue_size}, budget {args.max_shadows_per_s}/s; endpoints answer "
        f"in (0.04-0.12 s + guarded extra) x {args.latency_scale:g}; "
        f"offered {args.rate}/s for {args.duration_s:.0f}s"
    )

    load = await asyncio.create_subprocess_exec(
        sys.executable,
        SCRIPT,
        "--role",
        "load",
        "--target",
        f"127.0.0.1:{ports.grpc}",
        "--rate",
        str(args.rate),
        "--duration-s",
        str(args.duration_s),
        "--sample-rate",
        str(args.sample_rate),
        stdout=asyncio.subprocess.PIPE,
    )
    rss: list[tuple[float, float]] = []
    scales: list[float] = []
    t0 = time.monotonic()
    out_task = asyncio.create_task(load.communicate())
    while not out_task.done():
        await asyncio.wait({out_task}, timeout=1.0)
        rss.append((time.monotonic() - t0, rss_mb()))
        scales.append(app.sampler.scale)
        if len(rss) % 10 == 0:
            st = app.dispatcher.statistics()
            print(
                f"  t={rss[-1][0]:5.1f}s rss={rss[-1][1]:6.1f}MB scale={app.sampler.scale:.3f}"
                f" queued={st.queued} in_flight={st.in_flight} completed={st.completed}",
                flush=True,
            )
    stdout, _ = out_task.result()
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    at_end = _family_totals(registry)
    await app.stop()
    after_drain = _family_totals(registry)

    demand = args.rate * args.sample_rate
    served = _total(at_end, "taxmeter_shadow_jobs_total", outcome="completed") + _total(
        at_end, "taxmeter_shadow_jobs_total", outcome="failed"
    )
    capacity = served / result["elapsed_s"]
    late = [m for t, m in rss if t >= 10]
    print(
        f"\nsampled demand {demand:.1f}/s vs worker capacity ~{capacity:.1f}/s "
        f"(jobs served per second, measured): {demand / capacity:.1f}x overload"
    )
    print(
        f"RSS: start {rss_start:.1f} MB, max {max(m for _, m in rss):.1f} MB, "
        f"end {rss[-1][1]:.1f} MB; growth {rss[-1][1] - rss_start:+.1f} MB "
        f"(target < 50 MB); growth after t=10s "
        f"{(late[-1] - late[0]) if late else float('nan'):+.1f} MB"
    )
    print(
        f"sender: {result['sent']} sent in {result['elapsed_s']:.1f}s, {result['acked']} "
        f"acked, errors {result['errors']}; send lag p99 {result['send_lag_p99_ms']:.1f} ms"
    )
    print(
        f"ack latency (from the scheduled send time): p50 {result['ack_p50_ms']:.2f} ms, "
        f"p99 {result['ack_p99_ms']:.2f} ms, max {result['ack_max_ms']:.2f} ms"
    )
    print(f"acks by decision: {result['decisions']}")
    print(
        f"hash-eligible at rate {args.sample_rate}: {result['hash_eligible']}; of those "
        f"not sampled because of the adaptive scale: "
        f"{result['not_sampled_by_adaptive_scale']}"
    )
    print(f"adaptive scale: min {min(scales):.4g}, end {scales[-1]:.4g}")
    print("accounting:")
    ok1 = _print_accounting("when the load stopped", at_end)
    ok2 = _print_accounting("after the drain (SIGTERM path: 5 s grace)", after_drain)
    print(f"load average after: {load_average()}")
    return 0 if ok1 and ok2 else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--role", choices=["sidecar", "endpoints", "load"], default="sidecar")
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=60.0, help="mirrors per second offered")
    parser.add_argument("--sample-rate", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--queue-size", type=int, default=32)
    parser.add_argument("--max-shadows-per-s", type=float, default=20.0)
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=12.0,
        help="simulated latency x this (demo base 40-120 ms)",
    )
    parser.add_argument("--target", default="")
    parser.add_argument("--judges", type=Path, default=None)
    args = parser.parse_args()
    if args.role == "endpoints":
        asyncio.run(run_endpoints(args.latency_scale))
        return 0
    if args.role == "load":
        asyncio.run(run_load(args.target, args.rate, args.duration_s, args.sample_rate))
        return 0
    if args.judges is not None:
        judges = Path(args.judges)
    else:
        from judges_fixtures import write_judge

        judges = Path(tempfile.mkdtemp(prefix="taxmeter-overload-")) / "judges"
        write_judge(judges)
    endpoints = subprocess.Popen(
        [sys.executable, SCRIPT, "--role", "endpoints", "--latency-scale", str(args.latency_scale)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert endpoints.stdout is not None and endpoints.stdin is not None
    try:
        urls = json.loads(endpoints.stdout.readline())
        return asyncio.run(run_sidecar(args, urls, judges))
    finally:
        endpoints.stdin.close()
        endpoints.wait(10)


if __name__ == "__main__":
    raise SystemExit(main())
