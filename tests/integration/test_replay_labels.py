"""``taxmeter replay`` with reference labels, end to end on loopback: a judge that misses half
the guarded refusals and takes "Sure" for unsafe (``audit_fixtures``), endpoints with a known
truth, and the report's judge-error-corrected figures, from a labels file (the audit sample
exported from a record, labelled, given back with ``--labels``) and from the sidecar's LLM
auditor (``audit.auditor``), which the resume log keeps.
"""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from audit_fixtures import (
    REFUSALS,
    TRUE_OVER_REFUSAL,
    AuditorEndpoint,
    PersonaEndpoint,
    biased_judges,
)
from replay_fixtures import replay, replay_document, write_config
from taxmeter.replay.report import load_schema

pytestmark = pytest.mark.timeout(300)

N = 144  # six cycles of the personas' 24-prompt pattern


@pytest.fixture
async def personas() -> AsyncIterator[tuple[PersonaEndpoint, PersonaEndpoint]]:
    g, u = PersonaEndpoint(True), PersonaEndpoint(False)
    await g.start()
    await u.start()
    yield g, u
    await g.aclose()
    await u.aclose()


def _prompts(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i in range(N):
            f.write(
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": f"question number {i} about the weather"}
                        ],
                        "category": ("weather", "sports", "news")[i % 3],
                    }
                )
                + "\n"
            )
    return path


def _doc(tmp: Path, g: PersonaEndpoint, u: PersonaEndpoint, audit: dict[str, Any]) -> Path:
    doc = replay_document(g.base_url, u.base_url, biased_judges(tmp))
    doc["audit"] = {"rate": 0.5, "min_pairs_for_corrected": 30, **audit}
    return write_config(tmp / "taxmeter.yaml", doc)


def _read(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(doc, load_schema())
    return doc


def _measure(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        m for m in report["overall"]["audit"]["measures"] if m["measure"] == name
    )
    return found


def _label(item: dict[str, Any]) -> dict[str, Any]:
    """What a careful person answers, reading the exported answers."""

    def arm(answer: str) -> dict[str, Any]:
        refusal = answer in REFUSALS
        return {"refusal": refusal, "unsafe": False, "quality": 0.1 if refusal else 0.9}

    return {
        **item,
        "label": {
            "guarded": arm(item["guarded"]["answer"]),
            "unguarded": arm(item["unguarded"]["answer"]),
        },
    }


def _assert_corrected(report: dict[str, Any], audited: int) -> None:
    o = report["overall"]
    assert o["audit"]["audited"] == audited and o["audit"]["available"]
    over = _measure(report, "over_refusal")
    assert over["judge"] == o["over_refusal"]["point"]
    assert over["corrected"] > over["judge"] + 0.05  # the judge misses half the refusals
    assert over["ci"][0] <= TRUE_OVER_REFUSAL <= over["ci"][1]
    benefit = _measure(report, "safety_benefit")  # "Sure" is not unsafe: the truth is 0
    assert benefit["judge"] > 0.2 and benefit["ci"][0] == 0.0
    conf = {c["measure"]: c for c in o["audit"]["confusion"]}
    assert conf["refusal:guarded"]["fn"] > 0 and conf["refusal:guarded"]["fp"] == 0
    assert conf["unsafe:unguarded"]["fp"] > 0 and conf["unsafe:unguarded"]["fn"] == 0


async def test_labels_of_the_exported_audit_sample_give_the_corrected_figures(
    tmp_path: Path, personas: tuple[PersonaEndpoint, PersonaEndpoint]
) -> None:
    g, u = personas
    prompts = _prompts(tmp_path / "prompts.jsonl")
    cfg = _doc(tmp_path, g, u, {})
    report = tmp_path / "out" / "r.html"
    sample = tmp_path / "sample.jsonl"
    common = [
        str(prompts),
        "-c",
        str(cfg),
        "--record",
        str(tmp_path / "rec"),
        "--report",
        str(report),
    ]
    assert await replay(*common, "--export-audit", str(sample)) == 0
    first = _read(report.with_suffix(".json"))
    assert first["audit"]["mode"] == "none" and first["overall"]["audit"] is None
    assert "no reference labels were given" in report.read_text(encoding="utf-8")

    assert stat.S_IMODE(sample.stat().st_mode) == 0o600
    items = [json.loads(line) for line in sample.read_text(encoding="utf-8").splitlines()]
    assert 0.35 * N < len(items) < 0.65 * N  # audit.rate 0.5 of the pairs
    assert all(
        it["label"]["guarded"] == {"refusal": None, "unsafe": None, "quality": None} for it in items
    )
    labels = tmp_path / "labels.jsonl"
    lines = [json.dumps(_label(it)) for it in items]
    lines.append(json.dumps(_label({**items[0], "pair_id": str(N + 5)})))  # no such pair
    labels.write_text("\n".join(lines) + "\n", encoding="utf-8")

    calls = g.count + u.count
    assert await replay(*common, "--labels", str(labels)) == 0
    assert g.count + u.count == calls  # the resume log had every pair: nothing sent again
    again = _read(report.with_suffix(".json"))
    assert again["audit"]["mode"] == "labels"
    assert again["audit"]["labels"] == {"imported": len(items), "unknown_pair": 1, "invalid": 0}
    _assert_corrected(again, len(items))
    over = _measure(again, "over_refusal")
    shown = f"{over['corrected']:.1%} [{over['ci'][0]:.1%}, {over['ci'][1]:.1%}]"
    html = report.read_text(encoding="utf-8")
    assert "Judge-error-corrected figures" in html and shown in html
    assert shown in report.with_suffix(".md").read_text(encoding="utf-8")


async def test_the_llm_auditor_labels_the_sample_and_the_log_keeps_its_labels(
    tmp_path: Path, personas: tuple[PersonaEndpoint, PersonaEndpoint]
) -> None:
    g, u = personas
    auditor = AuditorEndpoint("truth")
    await auditor.start()
    try:
        cfg = _doc(
            tmp_path,
            g,
            u,
            {
                "enabled": True,
                "max_per_second": 1000,
                "burst": 10_000,
                "max_pending": 10_000,
                "auditor": {
                    "endpoint": {"base_url": auditor.base_url, "model": "auditor", "timeout_s": 10},
                    "max_concurrency": 4,
                },
            },
        )
        prompts = _prompts(tmp_path / "prompts.jsonl")
        argv = [str(prompts), "-c", str(cfg), "--report", str(tmp_path / "r.html")]
        assert await replay(*argv) == 0
        report = _read(tmp_path / "r.json")
        assert report["audit"]["mode"] == "auditor" and report["audit"]["sample_rate"] == 0.5
        audited = report["overall"]["audit"]["audited"]
        assert auditor.count == 2 * audited  # both answers of each audited pair, once
        assert report["audit"]["selected"] == audited  # the budgets left none judge-only
        assert 0.35 * N < audited < 0.65 * N
        _assert_corrected(report, audited)

        # Rerun: the labels come from the resume log; neither the arms nor the auditor is asked.
        calls = (g.count, u.count, auditor.count)
        assert await replay(*argv) == 0
        assert (g.count, u.count, auditor.count) == calls
        again = _read(tmp_path / "r.json")
        assert again["overall"]["audit"] == report["overall"]["audit"]
    finally:
        await auditor.aclose()
