"""Locating the external tools the operations tests use (installed by scripts/install_ops_tools.sh).

A missing tool skips the test, except under ``CI=true``, where it fails: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
LOCAL_TOOLS = REPO_ROOT / ".tools" / "usr" / "bin"
# Alertmanager's templates and UI, unpacked from its Debian package next to the binary.
ALERTMANAGER_SHARE = REPO_ROOT / ".tools" / "usr" / "share" / "prometheus" / "alertmanager"
"""Where scripts/install_ops_tools.sh unpacks the Debian packages (never installed)."""


def find_tool(*names: str) -> str | None:
    """The first of ``names`` found in ``.tools/usr/bin``, the venv's bin folder or on PATH."""
    for name in names:
        for folder in (LOCAL_TOOLS, VENV_BIN):
            candidate = folder / name
            if candidate.exists():
                return str(candidate)
        found = shutil.which(name)
        if found:
            return found
    return None


def require_tool(*names: str) -> str:
    """Path of the tool, or skip (fail under CI=true) naming the install script."""
    path = find_tool(*names)
    if path is None:
        message = f"{names[0]} not found: run scripts/install_ops_tools.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
