"""The Grafana dashboard JSON is the current output of grafana/dashboard.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATOR = REPO_ROOT / "grafana" / "dashboard.py"
DASHBOARD = REPO_ROOT / "grafana" / "dashboards" / "taxmeter.json"


def test_committed_dashboard_json_is_current() -> None:
    pytest.importorskip("grafana_foundation_sdk", reason="run scripts/install_ops_tools.sh")
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_dashboard_panels_cover_the_operator_questions() -> None:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = " ".join(t["expr"] for p in board["panels"] for t in p.get("targets", []))
    for needle in [
        "alignment_tax_cs_low",
        "alignment_tax_threshold",
        "over_refusal",
        "safety_benefit",
        "latency_overhead:p95",
        "taxmeter_shadow_ttft_seconds_bucket",
        "taxmeter_noise_refusal_flip_ratio",
        "taxmeter_mirror_requests_total",
        "taxmeter_judge_batch_size",
        "taxmeter_judge_provider_info",
        "over_refusal_corrected:ratio24h",
        "taxmeter_corrected_over_refusal_ratio",
        "audit_agreement:ratio24h",
    ]:
        assert needle in exprs, needle
    assert all(
        'route=~"$route"' in t["expr"] or "judge" in t["expr"]
        for p in board["panels"]
        for t in p.get("targets", [])
    )
