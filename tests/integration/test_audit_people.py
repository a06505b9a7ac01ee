"""People label the audit sample: export pending items through the owner-only socket, fill in
the truth, import by pair id; the corrected figures then contain the truth (issue 10)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import stat
from pathlib import Path
from typing import Any

import grpc
import pytest
from app_fixtures import app_document, chat_body, mirror_message, scrape
from audit_fixtures import REFUSALS, TRUE_OVER_REFUSAL, PersonaEndpoint, biased_judges
from prometheus_client import CollectorRegistry
from taxmeter.app import App
from taxmeter.audit.cli import run_export, run_import
from taxmeter.config import config_from_dict
from taxmeter.proto.taxmeter.v1 import mirror_pb2_grpc

pytestmark = [pytest.mark.timeout(300)]
N = 300


def _truth(item: dict[str, Any]) -> dict[str, object]:
    label = {}
    for arm in ("guarded", "unguarded"):
        answer = item[arm]["answer"]
        refusal = answer in REFUSALS
        label[arm] = {"refusal": refusal, "unsafe": False, "quality": 0.1 if refusal else 0.9}
    return {**item, "label": label}


async def _scenario(tmp: Path) -> None:
    guarded, unguarded = PersonaEndpoint(True), PersonaEndpoint(False)
    for server in (guarded, unguarded):
        await server.start()
    sock = tmp / "audit.sock"
    audit = {
        "enabled": True,
        "rate": 0.5,
        "max_per_second": 1000,
        "burst": 10_000,
        "min_pairs_for_corrected": 30,
        "people": {"socket_path": str(sock), "max_items": 1000},
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
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        await app.engine.wait_ready(60)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports.grpc}") as channel:
            stub = mirror_pb2_grpc.MirrorServiceStub(channel)  # type: ignore[no-untyped-call]
            for i in range(N):
                body = chat_body(f"question number {i} about the weather")
                await stub.Mirror(mirror_message(f"req-{i}", "chat", body), timeout=10)
        async with asyncio.timeout(120):
            while (await scrape(ports.metrics)).total("taxmeter_pairs_total") < N:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        before = await scrape(ports.metrics)
        pending = before.total("taxmeter_audit_people_pending")
        assert pending == before.total("taxmeter_audit_selected_total", outcome="people_pending")
        assert pending > 100
        assert before.total("taxmeter_audit_corrected_available") == 0.0

        out = tmp / "items.jsonl"
        code = await asyncio.to_thread(
            run_export, argparse.Namespace(socket=sock, output=out, max_items=1000)
        )
        assert code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        items = [json.loads(x) for x in out.read_text().splitlines()]
        assert len(items) == pending
        assert all(x["label"]["guarded"]["refusal"] is None for x in items)
        # never overwritten
        assert (
            await asyncio.to_thread(
                run_export, argparse.Namespace(socket=sock, output=out, max_items=10)
            )
            == 2
        )

        labelled = tmp / "labelled.jsonl"
        lines = [json.dumps(_truth(x)) for x in items]
        lines.append(json.dumps({"pair_id": "not-a-pair", "label": {}}))
        bad = _truth(items[0])
        lines.append(
            json.dumps(
                {**bad, "pair_id": items[1]["pair_id"], "label": {"guarded": {"refusal": "yes"}}}
            )
        )
        labelled.write_text("\n".join(lines) + "\n")
        code = await asyncio.to_thread(run_import, argparse.Namespace(socket=sock, file=labelled))
        assert code == 1  # one unknown pair id, one invalid label (both counted)
        m = await scrape(ports.metrics)
    finally:
        await app.stop()
        for server in (guarded, unguarded):
            await server.aclose()
    assert not sock.exists()
    assert m.total("taxmeter_audit_people_total", outcome="imported") == len(items)
    assert m.total("taxmeter_audit_people_total", outcome="unknown_pair") == 2  # 2nd: taken
    assert m.total("taxmeter_audit_pairs_total", route="chat") == len(items)
    assert m.total("taxmeter_pairs_total", route="chat") == N  # counted once, not twice
    assert m.total("taxmeter_audit_people_pending") == 0
    lo = [
        s.value
        for s in m.samples
        if s.name == "taxmeter_corrected_over_refusal_ratio" and s.labels["stat"] == "ci_low"
    ]
    hi = [
        s.value
        for s in m.samples
        if s.name == "taxmeter_corrected_over_refusal_ratio" and s.labels["stat"] == "ci_high"
    ]
    assert len(lo) == len(hi) == 1
    assert lo[0] <= TRUE_OVER_REFUSAL <= hi[0]


def test_people_export_label_and_import_audit_items_by_pair_id(tmp_path: Path) -> None:
    asyncio.run(_scenario(tmp_path))


def test_a_socket_folder_that_does_not_exist_stops_startup_naming_the_field(
    tmp_path: Path,
) -> None:
    from taxmeter.errors import ConfigError

    async def main() -> None:
        audit = {"enabled": True, "people": {"socket_path": str(tmp_path / "no" / "a.sock")}}
        doc = app_document(
            "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1", biased_judges(tmp_path), audit=audit
        )
        app = App(config_from_dict(doc), env={}, registry=CollectorRegistry(), serve_metrics=False)
        try:
            with pytest.raises(ConfigError) as err:
                await app.start()
            assert err.value.field == "audit.people.socket_path"
        finally:
            with contextlib.suppress(Exception):
                await app.stop()

    asyncio.run(main())
