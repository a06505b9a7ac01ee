"""``taxmeter demo``: the sidecar, two simulated endpoints and a traffic generator, one process.

Everything on loopback: the guarded and unguarded personas (``demo.endpoints``), the real
sidecar (``taxmeter.app.App``, real judges, real /metrics on 9464), and the traffic generator
sending Mirror requests over gRPC. A live view prints what taxmeter measures per route next to
what the simulated guarded persona was told to do, so a new user sees the tax appear.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from taxmeter.config import Config
from taxmeter.demo.config import DemoConfig, demo_document_from_dict
from taxmeter.demo.endpoints import SimulatedEndpoint
from taxmeter.demo.traffic import TrafficGenerator
from taxmeter.demo.view import render_view, summary_lines
from taxmeter.telemetry.logging import configure_logging


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge recursively; anything else in ``over`` replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def default_document() -> dict[str, Any]:
    text = resources.files("taxmeter.demo").joinpath("demo.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def demo_document(args: argparse.Namespace) -> dict[str, Any]:
    doc = default_document()
    if args.config:
        user = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
        if not isinstance(user, dict):
            raise SystemExit(f"taxmeter: {args.config}: the top level must be a mapping")
        doc = deep_merge(doc, user)
    ingress = doc.setdefault("ingress", {})
    telemetry = doc.setdefault("telemetry", {})
    if args.grpc_port is not None:
        ingress["grpc_port"] = args.grpc_port
    if args.http_port is not None:
        ingress["http_port"] = args.http_port
    if args.metrics_port is not None:
        telemetry["metrics_port"] = args.metrics_port
    if args.rate is not None:
        doc.setdefault("demo", {})["rate_per_s"] = args.rate
    # The simulated routes become label values: add them to the allowlists.
    demo_routes = (doc.get("demo") or {}).get("routes")
    if isinstance(demo_routes, list):
        names = [r["name"] for r in demo_routes if isinstance(r, dict) and "name" in r]
        cats = [r["category"] for r in demo_routes if isinstance(r, dict) and r.get("category")]
        doc["routes"] = list(dict.fromkeys([*doc.get("routes", []), *names]))
        doc["categories"] = list(dict.fromkeys([*doc.get("categories", []), *cats]))
    return doc


def _judges_repository(args: argparse.Namespace, config: Config) -> Path:
    """``--judges``, else the configured repository, else the default judges (built once)."""
    if args.judges is not None:
        return Path(args.judges)
    if config.judges.repository and str(config.judges.repository) not in ("", "."):
        return Path(config.judges.repository)
    from taxmeter.judgetools.cache import first_run_default_judges

    return first_run_default_judges("demo")


async def run_demo(args: argparse.Namespace) -> int:
    from taxmeter.app import App

    doc = demo_document(args)
    # Validate once without endpoint URLs to fail fast on the user's file (names the field).
    document = demo_document_from_dict(doc, os.environ)
    config, demo = document.config, document.demo
    configure_logging(config.telemetry.log_level, config.telemetry.log_format)

    judges_repo = _judges_repository(args, config)
    guarded = SimulatedEndpoint("guarded", demo.routes, demo.seed, latency_scale=demo.latency_scale)
    unguarded = SimulatedEndpoint(
        "unguarded", demo.routes, demo.seed, latency_scale=demo.latency_scale
    )
    g_url = await guarded.start()
    u_url = await unguarded.start()
    doc = deep_merge(
        doc,
        {
            "shadow": {"guarded": {"base_url": g_url}, "unguarded": {"base_url": u_url}},
            "judges": {"repository": str(judges_repo)},
        },
    )
    config = demo_document_from_dict(doc, os.environ).config
    app = App(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    traffic: TrafficGenerator | None = None
    try:
        ports = await app.start()
        print(
            f"taxmeter demo: gRPC ingress :{ports.grpc}, HTTP mirror sink :{ports.http}, "
            f"metrics http://127.0.0.1:{ports.metrics}/metrics  (Ctrl-C to stop)",
            file=sys.stderr,
        )
        traffic = TrafficGenerator(f"127.0.0.1:{ports.grpc}", demo)
        traffic_task = asyncio.create_task(traffic.run(args.duration_s))
        view_task = asyncio.create_task(_view_loop(app, config, demo, args.no_view, stop))
        waiters = [traffic_task, asyncio.create_task(stop.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        if not traffic_task.done():
            traffic_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await traffic_task
        # Let in-flight pairs land before the last view.
        await asyncio.sleep(0.5)
        await view_task
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        if traffic is not None:
            await traffic.aclose()
        await app.stop()
        await guarded.aclose()
        await unguarded.aclose()
    print("\n".join(summary_lines(app, config, demo)))
    return 0


async def _view_loop(
    app: Any, config: Config, demo: DemoConfig, plain: bool, stop: asyncio.Event
) -> None:
    tty = sys.stdout.isatty() and not plain
    interval = 2.0 if tty else 10.0
    started = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        if stop.is_set():
            break
        elapsed = time.monotonic() - started
        if tty:
            sys.stdout.write("\x1b[H\x1b[2J" + render_view(app, config, demo, elapsed) + "\n")
        else:
            sys.stdout.write("\n".join(summary_lines(app, config, demo)) + "\n")
        sys.stdout.flush()
