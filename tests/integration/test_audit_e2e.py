"""End to end on loopback: a biased judge, an auditor that knows the truth, and the corrected
figures that contain it where the judge-only ones do not; an auditor that times out, talks
garbage or is down is counted, never fatal, and the figures fall back to judge-only visibly.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from app_fixtures import Exposition, app_document, chat_body, mirror_message, scrape
from audit_fixtures import TRUE_OVER_REFUSAL, AuditorEndpoint, PersonaEndpoint, biased_judges
from prometheus_client import CollectorRegistry
from taxmeter.app import App
from taxmeter.config import config_from_dict
from taxmeter.proto.taxmeter.v1 import mirror_pb2_grpc

pytestmark = [pytest.mark.timeout(300)]


@dataclass
class Run:
    metrics: Exposition
    auditor_calls: int


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def _run(tmp: Path, mode: str, n: int, *, rate: float, timeout_s: float = 10.0) -> Run:
    guarded, unguarded = PersonaEndpoint(True), PersonaEndpoint(False)
    auditor = AuditorEndpoint(mode if mode != "down" else "truth")
    for server in (guarded, unguarded, auditor):
        await server.start()
    audit_url = _closed_port_url() if mode == "down" else auditor.base_url
    audit: dict[str, Any] = {
        "enabled": True,
        "rate": rate,
        "max_per_second": 1000,
        "burst": 10_000,
        "max_pending": 10_000,
        "min_pairs_for_corrected": 30,
        "auditor": {
            "endpoint": {"base_url": audit_url, "model": "auditor", "timeout_s": timeout_s},
            "max_attempts": 2,
            "max_concurrency": 8,
        },
    }
    doc = app_document(
        guarded.base_url,
        unguarded.base_url,
        biased_judges(tmp),
        sampling={"rate": 1.0},
        tax={"windows": ["1h"]},
        audit=audit,
    )
    app = App(config_from_dict(doc), env={}, registry=CollectorRegistry())
    ports = await app.start()
    try:
        await app.engine.wait_ready(60)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports.grpc}") as channel:
            stub = mirror_pb2_grpc.MirrorServiceStub(channel)  # type: ignore[no-untyped-call]
            for i in range(n):
                body = chat_body(f"question number {i} about the weather")
                await stub.Mirror(mirror_message(f"req-{i}", "chat", body), timeout=10)
        async with asyncio.timeout(120):
            while True:
                m = await scrape(ports.metrics)
                done = m.total("taxmeter_pairs_total", route="chat")
                pending = m.total("taxmeter_audit_pending")
                if done >= n and pending == 0:
                    break
                await asyncio.sleep(0.1)
        metrics = await scrape(ports.metrics)
    finally:
        await app.stop()
        for server in (guarded, unguarded, auditor):
            await server.aclose()
    return Run(metrics, auditor.count)


def _stat(m: Exposition, name: str, stat: str) -> float:
    values = [
        s.value
        for s in m.samples
        if s.name == name and s.labels.get("stat") == stat and s.labels.get("route") == "chat"
    ]
    assert len(values) == 1, (name, stat, values)
    return values[0]


def test_corrected_intervals_contain_the_truth_the_biased_judge_misses(
    tmp_path: Path,
) -> None:
    run = asyncio.run(_run(tmp_path, "truth", 400, rate=0.5))
    m = run.metrics
    assert m.total("taxmeter_pairs_total", route="chat") == 400
    audited = m.total("taxmeter_audit_pairs_total", route="chat")
    assert audited == m.total("taxmeter_audit_selected_total", outcome="labelled") > 150
    # Judge-only: half the refusals missed, half the safe unguarded answers called unsafe.
    or_lo = _stat(m, "taxmeter_over_refusal_ratio", "ci_low")
    or_hi = _stat(m, "taxmeter_over_refusal_ratio", "ci_high")
    sb_lo = _stat(m, "taxmeter_safety_benefit_ratio", "ci_low")
    assert or_hi < TRUE_OVER_REFUSAL and sb_lo > 0.0
    # Corrected: the truth (over-refusal 0.25, safety benefit 0) inside.
    c_lo = _stat(m, "taxmeter_corrected_over_refusal_ratio", "ci_low")
    c_hi = _stat(m, "taxmeter_corrected_over_refusal_ratio", "ci_high")
    s_lo = _stat(m, "taxmeter_corrected_safety_benefit_ratio", "ci_low")
    s_hi = _stat(m, "taxmeter_corrected_safety_benefit_ratio", "ci_high")
    print(
        f"\njudge-only over-refusal [{or_lo:.3f}, {or_hi:.3f}], corrected [{c_lo:.3f}, "
        f"{c_hi:.3f}]; judge-only safety benefit from {sb_lo:.3f}, corrected [{s_lo:.3f}, "
        f"{s_hi:.3f}]; {audited:.0f} audited"
    )
    assert c_lo <= TRUE_OVER_REFUSAL <= c_hi
    assert s_lo <= 0.0 <= s_hi
    assert m.total("taxmeter_audit_corrected_available", route="chat") == 1.0
    # The judge's disagreement with the auditor is visible per head.
    missed = m.total(
        "taxmeter_audit_confusion_total",
        route="chat",
        head="refusal",
        arm="guarded",
        judge="false",
        reference="true",
    )
    flagged = m.total(
        "taxmeter_audit_confusion_total",
        route="chat",
        head="unsafe",
        arm="unguarded",
        judge="true",
        reference="false",
    )
    assert missed > 0 and flagged > 0
    assert m.total("taxmeter_auditor_requests_total", outcome="ok") == 2 * audited
    assert not m.has_nan()


@pytest.mark.parametrize(
    ("mode", "reason"), [("slow", "timeout"), ("garbage", "unparsable"), ("down", "error")]
)
def test_a_failing_auditor_is_counted_and_the_figures_fall_back_to_judge_only(
    tmp_path: Path,
    mode: str,
    reason: str,
) -> None:
    run = asyncio.run(_run(tmp_path, mode, 60, rate=0.5, timeout_s=0.3))
    m = run.metrics
    assert m.total("taxmeter_pairs_total", route="chat") == 60  # no pair lost to the audit
    assert m.total("taxmeter_auditor_requests_total", outcome=reason) > 0
    assert m.total("taxmeter_auditor_requests_total", outcome="ok") == 0
    failed = m.total("taxmeter_audit_selected_total", route="chat", outcome="auditor_failed")
    assert failed > 0
    assert m.total("taxmeter_audit_pairs_total", route="chat") == 0
    assert m.total("taxmeter_audit_corrected_available", route="chat") == 0.0
    assert not [s for s in m.samples if s.name.startswith("taxmeter_corrected_")]
    assert _stat(m, "taxmeter_over_refusal_ratio", "point") >= 0.0  # judge-only still there
    if mode == "garbage":
        assert run.auditor_calls >= 2 * failed  # asked again within max_attempts
