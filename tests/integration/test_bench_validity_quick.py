"""``bench/validity.py --quick`` runs end to end (smoke; the full run's tables are in
docs/statistics.md) and its corrected alert bound raises no false alarm."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_validity_bench_quick_runs_and_the_corrected_bound_does_not_false_alarm() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "service")}
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "validity.py"), "--quick"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "## 5. Judge-error-corrected intervals" in out
    m = re.search(r"\| corrected cs_low \(deployed\) \| ([\d.]+) %", out)
    assert m is not None and float(m.group(1)) == 0.0
    # The judge-only intervals of a judge that errs miss the truth: at FNR 0.2, FPR 0.2 the
    # judge-only over-refusal coverage is far below 95 %.
    row = re.search(r"\| 0\.2 \| 0\.2 \| 20% \| 100000 \| ([\d.]+) %[^|]*\| ([\d.]+) %", out)
    assert row is not None and float(row.group(2)) < 50.0
