"""``bench/pipeline.py`` drives the whole sidecar in one process and accounts for every pair
(a smoke run on a MiniLM-shaped random judge: the numbers are not checked, the accounting is)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pipeline_bench_scores_every_pair_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "service"), "TMPDIR": str(tmp_path)}
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "pipeline.py"),
            "--random",
            "--pairs",
            "6",
            "--share-sample",
            "3",
            "--variant",
            "plain",
            "--threads",
            "1",
            "--timeout",
            "240",
        ],
        capture_output=True,
        text=True,
        timeout=400,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "6 sampled pairs" in out
    assert "completed 6, failed 0, shed 0" in out
    assert '"judge_items": 12' in out  # two answers per pair reached the judge
    assert "encoder tokens per pair" in out
