"""The repository's own promises: lint clean, typed, generated docs current."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_configuration_reference_is_generated_from_the_current_models() -> None:
    r = run(sys.executable, "scripts/gen_config_docs.py", "--check")
    assert r.returncode == 0, r.stderr


def test_ruff_reports_nothing() -> None:
    r = run(str(BIN / "ruff"), "check", "service", "tests", "bench", "scripts", "tools")
    assert r.returncode == 0, r.stdout[-3000:]


def test_the_code_is_as_ruff_format_writes_it() -> None:
    r = run(str(BIN / "ruff"), "format", "--check", "service", "tests", "bench", "scripts", "tools")
    assert r.returncode == 0, r.stdout[-3000:]


def test_mypy_checks_the_tests_and_benchmarks_as_well_as_the_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["strict"] is True
    assert {"service/taxmeter", "tests", "bench"} <= set(config["files"])
    # the fixture modules are imported as top-level modules, as pytest's pythonpath makes them
    assert "tests" in config["mypy_path"].split(":")


@pytest.mark.slow
def test_mypy_strict_passes_on_the_package_tests_and_benchmarks() -> None:
    r = run(str(BIN / "mypy"))
    assert r.returncode == 0, r.stdout[-3000:]
