"""The ``taxmeter`` command as a user runs it: startup errors name what is wrong, environment
overrides apply, and the demo runs end to end (real processes, loopback, ephemeral ports)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from app_fixtures import app_document, tiny_judges

CLI = [sys.executable, "-m", "taxmeter"]


def _run(
    args: list[str], *, env: dict[str, str] | None = None, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TAXMETER__")}
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**base, **(env or {})},
        check=False,
    )


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def judges(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_judges(tmp_path_factory.mktemp("judges"))


def _doc(judges: Path) -> dict[str, Any]:
    # endpoints that are never called: these tests stop before any traffic
    return app_document("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1", judges)


def test_check_config_accepts_a_valid_file(tmp_path: Path, judges: Path) -> None:
    res = _run(["check-config", str(_write(tmp_path / "ok.yaml", _doc(judges)))])
    assert res.returncode == 0, res.stderr
    assert "OK" in res.stdout and "sample rate 0.5" in res.stdout


def test_serve_with_missing_judge_repository_exits_nonzero_naming_the_path(
    tmp_path: Path, judges: Path
) -> None:
    missing = tmp_path / "no-such-judges"
    doc = _doc(judges)
    doc["judges"]["repository"] = str(missing)
    res = _run(["serve", "--config", str(_write(tmp_path / "c.yaml", doc))], timeout_s=30)
    assert res.returncode != 0
    assert str(missing) in res.stderr
    assert "judges.repository" in res.stderr


def test_check_config_out_of_range_rate_exits_2_naming_the_field(
    tmp_path: Path, judges: Path
) -> None:
    doc = _doc(judges)
    doc["sampling"]["rate"] = 2
    res = _run(["check-config", str(_write(tmp_path / "c.yaml", doc))])
    assert res.returncode == 2
    assert "sampling.rate" in res.stderr
    assert "less than or equal to 1" in res.stderr


def test_check_config_unknown_key_exits_2_naming_the_field(tmp_path: Path, judges: Path) -> None:
    doc = _doc(judges)
    doc["shadow"]["guarded"]["bse_url"] = "http://127.0.0.1:9/v1"
    res = _run(["check-config", str(_write(tmp_path / "c.yaml", doc))])
    assert res.returncode == 2
    assert "shadow.guarded.bse_url" in res.stderr
    assert "unknown field" in res.stderr


def test_serve_with_unset_api_key_env_exits_2_naming_the_field(
    tmp_path: Path, judges: Path
) -> None:
    doc = _doc(judges)
    doc["shadow"]["guarded"]["api_key_env"] = "TAXMETER_TEST_GUARDED_KEY_UNSET"
    res = _run(["serve", "--config", str(_write(tmp_path / "c.yaml", doc))], timeout_s=30)
    assert res.returncode == 2
    assert "shadow.guarded.api_key_env" in res.stderr
    assert "TAXMETER_TEST_GUARDED_KEY_UNSET" in res.stderr


def test_env_override_sets_the_sample_rate(tmp_path: Path, judges: Path) -> None:
    path = _write(tmp_path / "c.yaml", _doc(judges))
    res = _run(["check-config", str(path)], env={"TAXMETER__SAMPLING__RATE": "0.3"})
    assert res.returncode == 0, res.stderr
    assert "sample rate 0.3" in res.stdout


def test_env_override_is_validated_like_the_file(tmp_path: Path, judges: Path) -> None:
    path = _write(tmp_path / "c.yaml", _doc(judges))
    res = _run(["check-config", str(path)], env={"TAXMETER__SAMPLING__RATE": "7"})
    assert res.returncode == 2
    assert "sampling.rate" in res.stderr


_SUMMARY = re.compile(r"^route=(\S+) mirrors=(\d+) sampled=(\d+) pairs=(\d+) ", re.M)


def test_demo_runs_with_tiny_judges_and_prints_route_summaries_with_pairs(judges: Path) -> None:
    res = _run(
        [
            "demo",
            "--duration-s",
            "8",
            "--no-view",
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--metrics-port",
            "0",
            "--judges",
            str(judges),
        ],
        timeout_s=90,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = {m.group(1): [int(m.group(i)) for i in (2, 3, 4)] for m in _SUMMARY.finditer(res.stdout)}
    # the embedded demo config names four routes
    assert set(rows) >= {"support-chat", "code-assist", "health-info", "writing"}, res.stdout
    for route, (mirrors, sampled, pairs) in rows.items():
        assert mirrors >= sampled >= pairs, route
    assert sum(p for _, _, p in rows.values()) > 0
    # a route with a few sampled requests has scored pairs (the simulator never errors)
    assert all(p > 0 for _, s, p in rows.values() if s >= 3), res.stdout


def test_serve_with_its_grpc_port_in_use_exits_2_with_a_clear_message(
    tmp_path: Path, judges: Path
) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        doc = _doc(judges)
        doc["ingress"] = {**doc.get("ingress", {}), "host": "127.0.0.1", "grpc_port": port}
        r = _run(["serve", "--config", str(_write(tmp_path / "c.yaml", doc))], timeout_s=60)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "startup error" in r.stderr
    assert str(port) in r.stderr
    assert "Traceback" not in r.stderr
