"""The cache of built default judges (``demo``, ``score``, the tests): safe under concurrency.

    <root>.lock                    fcntl lock file, holds the builder's pid for the message
    .<root-name>.building-XXXX/    a build in progress (never read)
    <root>/default/manifest.yaml   a complete repository

A repository is complete exactly when ``<root>/default/manifest.yaml`` exists: the whole root
is built in a temporary sibling folder, its files flushed to disk, and renamed into place in one
``rename``, so a reader sees either nothing or everything. Builders serialise on an exclusive
``flock`` of the lock file; the second one waits (saying so), then finds the repository complete
and does not build again. A build that dies (SIGKILL, power loss) leaves only a temporary
folder, removed by the next builder; the lock dies with its process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from taxmeter.progress import NULL_PROGRESS, Progress, Stage, StageProgress

__all__ = [
    "BUILD_STAGES",
    "BuildFunction",
    "build_lock",
    "ensure_built",
    "ensure_default_repository",
    "first_run_default_judges",
    "is_complete",
]

BuildFunction = Callable[[Path, Progress], object]
"""Builds a repository into the (empty) folder given, reporting on the progress given."""

MARKER = Path("default") / "manifest.yaml"

BUILD_STAGES = (
    Stage("weights", "loading the MiniLM weights and the committed heads", 20.0),
    Stage("graph", "building the judge graphs", 30.0),
    Stage("fp16", "checking the fp16 variant", 40.0),
    Stage("write", "writing the repository", 10.0),
)
"""The default-judge build's stages (the names ``build_repository`` reports) and their shares
of its time, in percent (builder 6 loads committed heads: ~2–3 s in all on the 2-core machine,
2026-12-02). A stage the build stops reporting is simply skipped; the ETA corrects itself from
the stages done."""


def is_complete(root: Path) -> bool:
    """A complete repository is at ``root`` (see the module docstring)."""
    return (root / MARKER).is_file()


@contextlib.contextmanager
def _exclusive(lock_path: Path, progress: Progress) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            progress.note(
                f"another process (pid {holder}) is building the judges in "
                f"{lock_path.parent}; waiting for it"
            )
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def build_lock(
    root: Path, progress: Progress = NULL_PROGRESS
) -> contextlib.AbstractContextManager[None]:
    """The lock every builder of ``root`` holds (``ensure_built``, ``taxmeter judges build``)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    return _exclusive(root.parent / f"{root.name}.lock", progress)


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def ensure_built(root: Path, build: BuildFunction, progress: Progress = NULL_PROGRESS) -> bool:
    """Make ``root`` a complete repository, building it with ``build`` unless it already is (or
    another process finishes it while we wait). Returns True when this call built it."""
    if is_complete(root):
        return False
    parent = root.parent
    with build_lock(root, progress):
        if is_complete(root):  # built by the process we waited for
            return False
        for stale in parent.glob(f".{root.name}.building-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a build that died
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=parent))
        trash: Path | None = None
        try:
            build(tmp, progress)
            if not is_complete(tmp):
                raise RuntimeError(f"the judge build wrote no {MARKER} into {tmp}")
            os.chmod(tmp, 0o755)
            _fsync_tree(tmp)
            if root.exists():  # an incomplete folder (an older layout, a partial copy)
                trash = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=parent))
                root.rename(trash / "old")
            tmp.rename(root)
            dirfd = os.open(parent, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            if trash is not None:
                shutil.rmtree(trash, ignore_errors=True)
    return True


def first_run_default_judges(command: str) -> Path:
    """The default judges in the user cache for ``taxmeter <command>`` (``demo``, ``score``):
    on first use, says so and builds them with stages, a bar and the time left (logfmt lines
    when stderr is not a terminal)."""
    from taxmeter.judgetools.repository import default_repository_path

    root = default_repository_path()
    if not is_complete(root):
        print(
            f"taxmeter {command}: first run: building the default judges into {root} "
            "(once; later runs reuse them)",
            file=sys.stderr,
        )
        progress = StageProgress("judges build", BUILD_STAGES)
        ensure_default_repository(root, progress)
        progress.finish()
    return root


def ensure_default_repository(path: Path | None = None, progress: Progress = NULL_PROGRESS) -> Path:
    """The repository folder at ``path`` (default: :func:`default_repository_path`), built
    first if ``<path>/default/manifest.yaml`` is absent: under a lock, into a temporary folder
    renamed into place (:func:`ensure_built`). ``serve`` never calls this."""
    from taxmeter.judgetools.repository import build_repository, default_repository_path

    root = Path(path) if path is not None else default_repository_path()

    def build(tmp: Path, progress: Progress) -> None:
        build_repository(tmp, progress=progress)

    ensure_built(root, build, progress)
    return root
