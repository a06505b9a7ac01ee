"""The default-judge cache under concurrency: real processes, a real flock, a tiny build.

The build function is injected (``ensure_built(root, build, progress)``), so these tests run a
build that writes two small files and blocks on a FIFO until the test lets it finish: the
interleavings are forced, not hoped for, and nothing is timed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from taxmeter.judgetools.cache import ensure_built, is_complete
from taxmeter.progress import NULL_PROGRESS, Progress

SERVICE = Path(__file__).resolve().parents[2] / "service"

BUILDER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from taxmeter.judgetools.cache import ensure_built
    from taxmeter.progress import Stage, StageProgress

    root, gate, log = (Path(a) for a in sys.argv[1:4])

    def build(tmp, progress):
        with log.open("a") as f:
            f.write(f"start {os.getpid()}\\n")
        (tmp / "default").mkdir()
        (tmp / "default" / "model.onnx").write_bytes(b"half" * 1000)
        print("building", flush=True)
        with gate.open() as g:  # blocks until the test writes to the FIFO
            g.read()
        (tmp / "default" / "manifest.yaml").write_text("name: default\\n")
        with log.open("a") as f:
            f.write(f"end {os.getpid()}\\n")

    progress = StageProgress("judges build", [Stage("all", "all", 1.0)], tty=False)
    print("built" if ensure_built(root, build, progress) else "reused", flush=True)
""")


def _start(tmp_path: Path, root: Path, gate: Path, log: Path) -> subprocess.Popen[str]:
    script = tmp_path / "builder.py"
    script.write_text(BUILDER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(SERVICE)}
    return subprocess.Popen(
        [sys.executable, str(script), str(root), str(gate), str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _open_gate(gate: Path) -> None:
    with gate.open("w") as g:  # blocks until the builder has opened it for reading
        g.write("go")


def test_two_processes_building_at_once_build_once_and_the_second_waits(tmp_path: Path) -> None:
    root, gate, log = tmp_path / "cache" / "5", tmp_path / "gate", tmp_path / "log"
    os.mkfifo(gate)
    first = _start(tmp_path, root, gate, log)
    second: subprocess.Popen[str] | None = None
    try:
        assert first.stdout is not None
        assert first.stdout.readline().strip() == "building"
        # Mid-build: nothing at the cache path, only the temporary folder.
        assert not root.exists()
        assert [p.name.startswith(".5.building-") for p in root.parent.iterdir() if p.is_dir()] == [
            True
        ]
        second = _start(tmp_path, root, gate, log)
        assert second.stderr is not None
        waiting = second.stderr.readline()
        assert f"pid {first.pid}" in waiting and "waiting" in waiting, waiting
        _open_gate(gate)
        out1, err1 = first.communicate(timeout=60)
        out2, err2 = second.communicate(timeout=60)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert first.returncode == 0 and second.returncode == 0, (err1, err2)
    assert out1.split()[-1] == "built" and out2.split()[-1] == "reused"
    assert log.read_text().split("\n")[:2] == [f"start {first.pid}", f"end {first.pid}"]
    assert log.read_text().count("start") == 1
    assert is_complete(root)
    assert (root / "default" / "model.onnx").read_bytes() == b"half" * 1000
    assert sorted(p.name for p in root.parent.iterdir()) == ["5", "5.lock"]


def test_a_build_killed_midway_leaves_no_cache_and_the_next_build_replaces_it(
    tmp_path: Path,
) -> None:
    root, gate, log = tmp_path / "cache" / "5", tmp_path / "gate", tmp_path / "log"
    os.mkfifo(gate)
    proc = _start(tmp_path, root, gate, log)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "building"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert not is_complete(root) and not root.exists()
    leftovers = [p for p in root.parent.iterdir() if p.name.startswith(".5.building-")]
    assert len(leftovers) == 1 and (leftovers[0] / "default" / "model.onnx").exists()

    def build(tmp: Path, progress: Progress) -> None:
        (tmp / "default").mkdir()
        (tmp / "default" / "manifest.yaml").write_text("name: default\n")

    assert ensure_built(root, build) is True  # the dead process's lock is gone with it
    assert is_complete(root)
    assert sorted(p.name for p in root.parent.iterdir()) == ["5", "5.lock"]
    assert ensure_built(root, build) is False


@pytest.mark.parametrize("outcome", ["raises", "writes_no_manifest"])
def test_a_failed_build_leaves_no_cache_and_an_incomplete_folder_is_replaced(
    tmp_path: Path,
    outcome: str,
) -> None:
    root = tmp_path / "cache" / "5"
    (root / ".default-leftover").mkdir(parents=True)  # an older, interrupted layout

    def bad(tmp: Path, progress: Progress) -> None:
        (tmp / "default").mkdir()
        (tmp / "default" / "model.onnx").write_bytes(b"partial")
        if outcome == "raises":
            raise OSError("disk full")

    with pytest.raises((OSError, RuntimeError)):
        ensure_built(root, bad, NULL_PROGRESS)
    assert not is_complete(root)
    assert sorted(p.name for p in root.parent.iterdir()) == ["5", "5.lock"]

    def good(tmp: Path, progress: Progress) -> None:
        (tmp / "default").mkdir()
        (tmp / "default" / "manifest.yaml").write_text("name: default\n")

    assert ensure_built(root, good) is True
    assert sorted(p.name for p in root.iterdir()) == ["default"]
    assert oct(root.stat().st_mode & 0o777) == oct(0o755)
