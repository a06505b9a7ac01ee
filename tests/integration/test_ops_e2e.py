"""End to end: a real Prometheus scrapes taxmeter, a real Alertmanager delivers
AlignmentTaxAboveThreshold to a webhook receiver; every dashboard query returns data.

Two metric sources, each a module-scoped stack:
- ``demo``: the real ``taxmeter demo`` (sidecar, simulated endpoints, real judges on CPU), one
  route whose simulated guarded arm is far above its threshold and one below;
- ``standin``: a stand-in exporter with the same metric names (harness and rules independent of
  the demo's simulation).
The rules are a generated test copy of deploy/prometheus/taxmeter.rules.yml (shorter ``for:``,
1 s intervals, a smaller pair minimum); the expressions are the production ones.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from build_budget import body_timeout, within_build_budget
from ops_fixtures.rules import write_test_copy
from ops_fixtures.servers import (
    Prometheus,
    WebhookReceiver,
    free_port,
    process,
    run_alertmanager,
    run_prometheus,
    wait_http_ok,
)
from ops_fixtures.standin import StandinExporter, StandinRoute
from ops_fixtures.tools import REPO_ROOT, VENV_BIN

# The default judges are built (first run only) in a fixture under their own budget
# (build_budget.py), not inside the demo under a readiness deadline; pytest's timeout covers
# the test bodies, which wait up to DEADLINE_S for data.
pytestmark = [pytest.mark.slow, body_timeout(300)]

DASHBOARD = REPO_ROOT / "grafana" / "dashboards" / "taxmeter.json"
HOT, COOL = "hot", "cool"
MIN_PAIRS = {"standin": 100, "demo": 60}
DEADLINE_S = {"standin": 60.0, "demo": 110.0}
ALERT = "AlignmentTaxAboveThreshold"


@dataclass
class Stack:
    source: str
    prometheus: Prometheus
    webhook: WebhookReceiver
    min_pairs: int


def _demo_available() -> str | None:
    """None when ``taxmeter demo`` can run, else why not."""
    taxmeter = VENV_BIN / "taxmeter"
    if not taxmeter.exists():
        return "taxmeter is not installed in the venv"
    result = subprocess.run(
        [str(taxmeter), "demo", "--help"], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        return f"`taxmeter demo --help` failed: {result.stderr.strip().splitlines()[-1:]}"
    return None


def _demo_config(path: Path) -> Path:
    config = {
        "routes": [HOT, COOL],
        "demo": {
            "rate_per_s": 30.0,
            "routes": [
                {
                    "name": HOT,
                    "weight": 2,
                    # refusals of benign prompts are what the quality judge sees most clearly
                    "guarded_refusal_share": 0.9,
                    "guarded_quality_drop": 1.0,
                    "guarded_added_latency_ms": 0,
                    "harmful_share": 0.0,
                },
                {
                    "name": COOL,
                    "weight": 1,
                    "guarded_refusal_share": 0.0,
                    "guarded_quality_drop": 0.0,
                    "guarded_added_latency_ms": 0,
                    "harmful_share": 0.0,
                },
            ],
        },
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def default_judges_repo() -> Path:
    from tax_e2e_fixtures import default_judges

    return within_build_budget("the default judges (user cache)", default_judges)


@pytest.fixture(scope="module", params=["standin", "demo"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    source: str = request.param
    workdir = tmp_path_factory.mktemp(f"ops-e2e-{source}")
    min_pairs = MIN_PAIRS[source]
    rules = write_test_copy(
        workdir / "rules.yml", for_duration="2s", group_interval="1s", min_pairs=min_pairs
    )
    metrics_port = free_port()
    with WebhookReceiver() as webhook:
        am_port = free_port()
        with run_alertmanager(workdir, webhook_url=webhook.url, port=am_port):
            if source == "standin":
                exporter = StandinExporter(
                    [StandinRoute(HOT, 0.4, 0.3), StandinRoute(COOL, 0.0, 0.0)], pairs_per_s=20
                )
                exporter.start(metrics_port)
                try:
                    with run_prometheus(
                        workdir,
                        scrape_targets=[f"127.0.0.1:{metrics_port}"],
                        rule_file=rules,
                        alertmanager_port=am_port,
                    ) as prom:
                        yield Stack(source, prom, webhook, min_pairs)
                finally:
                    exporter.stop()
            else:
                reason = _demo_available()
                if reason is not None:
                    pytest.skip(f"taxmeter demo not available yet: {reason}")
                judges = request.getfixturevalue("default_judges_repo")
                args = [
                    str(VENV_BIN / "taxmeter"),
                    "demo",
                    "--config",
                    str(_demo_config(workdir / "demo.yaml")),
                    "--no-view",
                    "--judges",
                    str(judges),
                    "--duration-s",
                    "300",
                    "--grpc-port",
                    str(free_port()),
                    "--http-port",
                    str(free_port()),
                    "--metrics-port",
                    str(metrics_port),
                ]
                with process(args, workdir / "demo.log") as demo:
                    # judges prebuilt: startup is imports and loading (seconds; minutes when
                    # the machine is very busy)
                    wait_http_ok(f"http://127.0.0.1:{metrics_port}/metrics", 300, demo)
                    with run_prometheus(
                        workdir,
                        scrape_targets=[f"127.0.0.1:{metrics_port}"],
                        rule_file=rules,
                        alertmanager_port=am_port,
                    ) as prom:
                        yield Stack(source, prom, webhook, min_pairs)


def _value(prom: Prometheus, expr: str) -> float | None:
    result = prom.query(expr)
    return float(result[0]["value"][1]) if result else None


def test_alert_delivered_for_route_above_threshold_and_not_for_route_below(stack: Stack) -> None:
    prom = stack.prometheus
    cool_pairs_expr = f'taxmeter_route:pairs_eligible:increase24h{{route="{COOL}"}}'
    deadline = time.monotonic() + DEADLINE_S[stack.source]
    hot_delivered: list[dict[str, Any]] = []
    cool_pairs: float | None = None
    while time.monotonic() < deadline:
        hot_delivered = [a for a in stack.webhook.firing(ALERT) if a["labels"]["route"] == HOT]
        cool_pairs = _value(prom, cool_pairs_expr)
        # wait until the cool route is past the pair minimum, so its silence is the threshold's
        if hot_delivered and cool_pairs is not None and cool_pairs >= stack.min_pairs * 1.5:
            break
        time.sleep(1.0)
    diagnostics = {
        "hot_cs_low": _value(
            prom, f'taxmeter_route_judge:alignment_tax_cs_low:24h{{route="{HOT}"}}'
        ),
        "hot_pairs": _value(prom, f'taxmeter_route:pairs_eligible:increase24h{{route="{HOT}"}}'),
        "cool_pairs": cool_pairs,
        "webhook": stack.webhook.alerts(),
    }
    assert hot_delivered, f"no {ALERT} for route {HOT} delivered: {diagnostics}"
    alert = hot_delivered[0]
    assert alert["labels"]["judge"] == "default.quality"
    assert alert["annotations"]["runbook_url"].endswith("#alert-alignmenttaxabovethreshold")
    assert cool_pairs is not None and cool_pairs >= stack.min_pairs, diagnostics

    cool_low = _value(prom, f'taxmeter_route_judge:alignment_tax_cs_low:24h{{route="{COOL}"}}')
    threshold = _value(prom, f'taxmeter_route:alignment_tax_threshold{{route="{COOL}"}}')
    assert cool_low is not None and threshold is not None
    assert threshold == pytest.approx(0.05)
    assert cool_low < threshold
    assert not [a for a in stack.webhook.alerts() if a["labels"].get("route") == COOL]
    assert not prom.query(f'ALERTS{{alertname="{ALERT}", route="{COOL}"}}')


SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "${datasource}": "prometheus",
    "$namespace": ".*",
    "$route": ".*",
}


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expression with the dashboard variables substituted) for every target."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries: list[tuple[str, str]] = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in SUBSTITUTIONS.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"unsubstituted variable in {panel['title']}: {expr}"
            queries.append((panel["title"], expr))
    return queries


def test_dashboard_has_a_query_per_panel() -> None:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len(panels) >= 12
    assert all(p.get("targets") for p in panels)
    names = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "namespace", "route"} <= names
    assert re.search(r"\$__rate_interval", DASHBOARD.read_text(encoding="utf-8"))


def _needs_auditing(title: str) -> bool:
    """The judge-vs-auditor row reads series that exist only with auditing on (issue 10); its
    recording rules and bounds are checked by promtool (deploy/prometheus/tests/audit_test.yml)
    and its series by tests/integration/test_audit_e2e.py. Neither source here audits."""
    return "corrected" in title.lower() or "auditor" in title.lower()


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    queries = [(t, e) for t, e in dashboard_queries() if not _needs_auditing(t)]
    assert len(queries) >= 12
    deadline = time.monotonic() + 45
    empty = queries
    while time.monotonic() < deadline:
        empty = [(title, expr) for title, expr in queries if not stack.prometheus.query(expr)]
        if not empty:
            break
        time.sleep(2.0)
    assert not empty, "queries returning no data:\n" + "\n".join(f"{t}: {e}" for t, e in empty)
