"""The repository's own promises: lint clean, typed, generated docs current."""

from __future__ import annotations

import subprocess
import sys
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
    r = run(str(BIN / "ruff"), "check", "service", "tests", "bench", "scripts")
    assert r.returncode == 0, r.stdout[-3000:]


@pytest.mark.slow
def test_mypy_strict_passes_on_the_package() -> None:
    r = run(str(BIN / "mypy"))
    assert r.returncode == 0, r.stdout[-3000:]
