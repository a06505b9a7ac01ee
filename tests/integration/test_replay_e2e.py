"""``taxmeter replay`` end to end against the demo's simulated endpoints on loopback, with a
tiny random-weight judge (the numbers are the judge's, not meaningful; what is tested is that
they are the sidecar's numbers, that they survive a SIGKILL and a resume, and that a record
can be judged again without calling a model).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import jsonschema
import pytest
from app_fixtures import tiny_judges
from judges_fixtures import make_judge_graph, write_judge
from prometheus_client import CollectorRegistry
from replay_fixtures import assert_same, replay, replay_document, write_config, write_prompts
from taxmeter.app import App
from taxmeter.config import config_from_dict
from taxmeter.demo.config import DemoConfig
from taxmeter.demo.endpoints import SimulatedEndpoint
from taxmeter.proto.taxmeter.v1 import mirror_pb2, mirror_pb2_grpc
from taxmeter.replay.prompts import builtin_demo
from taxmeter.replay.report import build_report, deterministic_view, load_schema

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]


async def _endpoints(latency_scale: float) -> tuple[SimulatedEndpoint, SimulatedEndpoint]:
    demo = DemoConfig()
    g = SimulatedEndpoint("guarded", demo.routes, demo.seed, latency_scale=latency_scale)
    u = SimulatedEndpoint("unguarded", demo.routes, demo.seed, latency_scale=latency_scale)
    await g.start()
    await u.start()
    return g, u


@pytest.fixture
async def instant() -> AsyncIterator[tuple[SimulatedEndpoint, SimulatedEndpoint]]:
    g, u = await _endpoints(0.0)
    yield g, u
    await g.aclose()
    await u.aclose()


@pytest.fixture
async def slow() -> AsyncIterator[tuple[SimulatedEndpoint, SimulatedEndpoint]]:
    g, u = await _endpoints(0.5)
    yield g, u
    await g.aclose()
    await u.aclose()


def _read(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


async def test_replay_gives_the_live_sidecars_numbers_for_the_same_prompts(
    tmp_path: Path, instant: tuple[SimulatedEndpoint, SimulatedEndpoint]
) -> None:
    g, u = instant
    judges = tiny_judges(tmp_path)
    items = builtin_demo(120)
    prompts = write_prompts(tmp_path / "prompts.jsonl", items)
    doc = replay_document(g.base_url, u.base_url, judges)
    cfg = write_config(tmp_path / "taxmeter.yaml", doc)
    assert (
        await replay(str(prompts), "-c", str(cfg), "--report", str(tmp_path / "out" / "r.html"))
        == 0
    )
    offline = _read(tmp_path / "out" / "r.json")
    jsonschema.validate(offline, load_schema())

    # The sidecar, fed the same prompts as Mirror requests (forced into the sample).
    live_doc = {
        **doc,
        "ingress": {"host": "127.0.0.1", "grpc_port": 0, "http_port": 0},
        "sampling": {
            "rate": 1.0,
            "max_shadows_per_s": 10_000,
            "burst_shadows": 10_000,
            "adaptive": False,
        },
        "telemetry": {"metrics_port": 0, "log_level": "warning"},
    }
    app = App(config_from_dict(live_doc), registry=CollectorRegistry(), serve_metrics=False)
    ports = await app.start()
    try:
        await app.engine.wait_ready(60)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports.grpc}") as channel:
            stub = mirror_pb2_grpc.MirrorServiceStub(channel)  # type: ignore[no-untyped-call]
            for it in items:
                ack = await stub.Mirror(
                    mirror_pb2.MirrorRequest(
                        request_id=str(it.index).encode(),
                        route=it.route.encode(),
                        category=(it.category or "").encode(),
                        body=json.dumps(it.body).encode(),
                        force_sample=True,
                    ),
                    timeout=10,
                )
                assert ack.sampled
        async with asyncio.timeout(120):
            while True:
                st = app.dispatcher.statistics()
                if st.completed + st.failed + st.shed >= len(items):
                    break
                await asyncio.sleep(0.05)
        assert (st.completed, st.failed, st.shed) == (len(items), 0, 0)
        live = build_report(
            app.aggregator,
            counts=offline["counts"],
            run=offline["run"],
            judges=offline["judges"],
            gallery=None,
        )
    finally:
        await app.stop()
    # Same code path, same numbers: every judged figure of every category and overall.
    assert offline["overall"]["pairs"] == len(items)
    assert_same(deterministic_view(live), deterministic_view(offline))
    assert {c["name"] for c in offline["categories"]} == {"support", "coding", "health", "writing"}


async def test_a_killed_replay_resumes_where_it_stopped_and_reports_as_if_never_killed(
    tmp_path: Path, slow: tuple[SimulatedEndpoint, SimulatedEndpoint]
) -> None:
    g, u = slow
    judges = tiny_judges(tmp_path)
    n = 120
    prompts = write_prompts(tmp_path / "prompts.jsonl", builtin_demo(n))
    cfg = write_config(
        tmp_path / "taxmeter.yaml", replay_document(g.base_url, u.base_url, judges, concurrency=4)
    )
    report = tmp_path / "killed" / "r.html"
    log = tmp_path / "killed" / "r.resume.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "service"), os.environ.get("PYTHONPATH", "")]),
    }
    argv = [
        sys.executable,
        "-m",
        "taxmeter.cli",
        "replay",
        str(prompts),
        "-c",
        str(cfg),
        "--report",
        str(report),
        "--progress",
        "lines",
    ]
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        async with asyncio.timeout(120):
            while not log.exists() or log.read_bytes().count(b"\n") < 1 + 30:
                assert proc.returncode is None, "the replay ended before it could be killed"
                await asyncio.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not report.exists()
    done_lines = log.read_bytes().count(b"\n") - 1
    assert 30 <= done_lines < n, "the run must die part-way"

    # Resume: same command; only the prompts without a log line are sent again.
    before = g.stats()["requests"]
    again = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(again.communicate(), 240)
    assert again.returncode == 0, err.decode()
    assert b"120 of 120 prompts scored" in out
    kept = len([ln for ln in log.read_text().splitlines()[1:] if ln])
    assert kept == n
    sent_again = g.stats()["requests"] - before
    assert n - done_lines - 1 <= sent_again <= n - done_lines  # a cut-off last line is redone

    # The same replay, never interrupted (in-process).
    assert (
        await replay(str(prompts), "-c", str(cfg), "--report", str(tmp_path / "clean" / "r.html"))
        == 0
    )
    a = _read(report.with_suffix(".json"))
    b = _read(tmp_path / "clean" / "r.json")
    jsonschema.validate(a, load_schema())
    assert a["counts"]["scored"] == n
    assert_same(deterministic_view(a), deterministic_view(b))


async def test_a_record_is_judged_again_without_calling_any_model(
    tmp_path: Path, instant: tuple[SimulatedEndpoint, SimulatedEndpoint]
) -> None:
    g, u = instant
    judges = tiny_judges(tmp_path)
    prompts = write_prompts(tmp_path / "prompts.jsonl", builtin_demo(60))
    cfg = write_config(tmp_path / "taxmeter.yaml", replay_document(g.base_url, u.base_url, judges))
    rec = tmp_path / "rec"
    assert (
        await replay(
            str(prompts),
            "-c",
            str(cfg),
            "--record",
            str(rec),
            "--report",
            str(tmp_path / "a" / "r.html"),
        )
        == 0
    )
    calls = g.stats()["requests"] + u.stats()["requests"]
    assert (
        await replay(
            "--from-record",
            str(rec),
            "-c",
            str(cfg),
            "--show-text",
            "--report",
            str(tmp_path / "b" / "r.html"),
        )
        == 0
    )
    assert g.stats()["requests"] + u.stats()["requests"] == calls
    first, again = _read(tmp_path / "a" / "r.json"), _read(tmp_path / "b" / "r.json")
    jsonschema.validate(again, load_schema())
    assert again["run"]["from_record"] is True
    a, b = deterministic_view(first), deterministic_view(again)
    assert a["gallery"] is None and b.pop("gallery")
    a.pop("gallery")
    assert_same(a, b)
    # Latency comes from the record too: the rescored report has the same distributions.
    assert_same(first["overall"]["latency"], again["overall"]["latency"])
    # Text appears only in the report made with --show-text.
    some_prompt = builtin_demo(60)[0].body["messages"][-1]["content"]
    assert some_prompt not in (tmp_path / "a" / "r.html").read_text()
    assert some_prompt not in (tmp_path / "a" / "r.resume.jsonl").read_text()
    assert "Largest disagreements" in (tmp_path / "b" / "r.html").read_text()
    gallery = again["gallery"]
    assert gallery and all(g["prompt"] for g in gallery)
    assert [abs(g["delta"]) for g in gallery] == sorted(
        (abs(g["delta"]) for g in gallery), reverse=True
    )
    assert gallery[0]["prompt"] in (tmp_path / "b" / "r.html").read_text()

    # Other judges, same record: new numbers, the recorded arms, still no model called.
    other = tmp_path / "other"
    write_judge(other, model=make_judge_graph(seed=3))
    assert (
        await replay(
            "--from-record",
            str(rec),
            "-c",
            str(cfg),
            "--judges",
            str(other),
            "--report",
            str(tmp_path / "c" / "r.html"),
        )
        == 0
    )
    assert g.stats()["requests"] + u.stats()["requests"] == calls
    third = _read(tmp_path / "c" / "r.json")
    assert third["run"]["arms"] == first["run"]["arms"]
    assert third["overall"]["pairs"] == first["overall"]["pairs"]
    assert (
        third["overall"]["quality"][0]["mean_guarded"]
        != first["overall"]["quality"][0]["mean_guarded"]
    )


async def test_a_first_run_needs_only_the_builtin_prompts_and_simulated_endpoints(
    tmp_path: Path,
) -> None:
    judges = tiny_judges(tmp_path)
    assert (
        await replay(
            "builtin:demo:40",
            "--simulate",
            "--judges",
            str(judges),
            "--report",
            str(tmp_path / "first.html"),
        )
        == 0
    )
    report = _read(tmp_path / "first.json")
    jsonschema.validate(report, load_schema())
    assert report["counts"]["scored"] == 40
    assert report["run"]["prompts_source"] == "builtin:demo:40"
    assert report["run"]["arms"]["guarded"]["model"] == "demo-guarded"
    assert {c["name"] for c in report["categories"]} <= {"support", "coding", "health", "writing"}
    lat = report["overall"]["latency"]["arms"]
    assert lat["guarded"]["n"] == lat["unguarded"]["n"] == 40
