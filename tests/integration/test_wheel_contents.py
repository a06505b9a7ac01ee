"""The runtime wheel carries code and derived artefacts, never dataset text (issue 15): no
training or evaluation sets, no corpora, no tools/; the committed heads and the demo's own
files are in it. Builds the wheel from this checkout (no network: no build isolation)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_wheel_ships_no_dataset_text(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = tmp_path.glob("taxmeter-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "taxmeter/judgetools/heads/default.npz" in names
    assert "taxmeter/demo/refusals.yaml" in names
    assert not [n for n in names if n.endswith(".jsonl")]
    assert not [n for n in names if n.startswith("tools/") or "/corpus_" in n]
    assert not [n for n in names if "in-house" in n or "judges/data/" in n]
