"""Progress for the steps people wait on (the first judge build, a long first-run step).

A task is a sequence of named stages known in advance, each with its expected share of the
total time (measured, so the ETA starts sensible and corrects itself as stages finish). The
work calls the :class:`Progress` hooks; what the user sees depends on the stream:

- a terminal: one bar redrawn in place, ``judges build [#####.......] 41%  3/7 embed 320/1400
  (1:05 left)``;
- anything else (a log file, CI, a pipe): one logfmt line per stage start and at most one per
  ``log_interval_s`` inside a stage, ``progress task=... stage=... step=3/7 percent=41
  elapsed_s=12 eta_s=17`` (no prompts, no answers: stage names and counts only).

The hooks are a Protocol, so code that reports progress does not import this module's
implementation, and tests pass a recorder.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TextIO

__all__ = ["NULL_PROGRESS", "Progress", "Stage", "StageProgress", "format_duration"]


class Progress(Protocol):
    """What long-running work calls. All methods are cheap and never raise."""

    def stage(self, name: str, total: int | None = None) -> None:
        """Enter stage ``name`` (ending the previous one); ``total`` steps if countable."""

    def advance(self, steps: int = 1) -> None:
        """``steps`` more steps of the current stage are done."""

    def note(self, message: str) -> None:
        """A one-off line (e.g. "waiting for another build"), shown above the bar."""

    def finish(self) -> None:
        """The task is done: the last line, with the elapsed time."""


class _NullProgress:
    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass


NULL_PROGRESS: Progress = _NullProgress()
"""Reports nothing (the default where no one is waiting)."""


@dataclass(frozen=True, slots=True)
class Stage:
    """One planned stage: ``name`` as the work reports it, ``label`` as the user reads it,
    ``weight`` its expected share of the task's time (any positive scale)."""

    name: str
    label: str
    weight: float


def format_duration(seconds: float) -> str:
    """``0:07``, ``12:34``, ``1:02:03``."""
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class StageProgress:
    """A bar with stages and an ETA on a terminal; logfmt lines otherwise."""

    BAR_WIDTH = 24

    def __init__(
        self,
        task: str,
        stages: Sequence[Stage],
        *,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        redraw_interval_s: float = 0.2,
        log_interval_s: float = 10.0,
        heartbeat: bool = True,
    ) -> None:
        if not stages:
            raise ValueError("StageProgress needs at least one stage")
        if any(s.weight <= 0 for s in stages):
            raise ValueError("stage weights must be positive")
        self._task = task
        self._stages = list(stages)
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty() if tty is None else tty
        self._clock = clock
        self._redraw_s = redraw_interval_s
        self._log_s = log_interval_s
        self._t0 = clock()
        self._index = -1
        self._stage_t0 = self._t0
        self._total: int | None = None
        self._done = 0
        self._last_emit = float("-inf")
        self._finished = False
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        if heartbeat:
            # Re-draws (terminal: every second; logs: every log_interval_s) while a stage runs
            # without counted steps, so a long stage never looks hung.
            self._heartbeat = threading.Thread(
                target=self._beat, name="taxmeter-progress", daemon=True
            )
            self._heartbeat.start()

    # -- what the ETA is made of --------------------------------------------------------------

    def fraction(self) -> float:
        """The share of the task done, by the stages' weights (0..1)."""
        if self._index < 0:
            return 0.0
        total = sum(s.weight for s in self._stages)
        before = sum(s.weight for s in self._stages[: self._index])
        inside = 0.0
        if self._total:
            inside = min(1.0, self._done / self._total)
        elif before > 0:
            # No counts: assume the stage runs at the pace of the stages before it, and never
            # claim it is done before it says so.
            pace_s = (self._stage_t0 - self._t0) / before
            expected_s = pace_s * self._stages[self._index].weight
            if expected_s > 0:
                inside = min(0.95, (self._clock() - self._stage_t0) / expected_s)
        return min(1.0, (before + self._stages[self._index].weight * inside) / total)

    def eta_s(self) -> float | None:
        """Seconds left, extrapolated from the time so far; None until there is a basis."""
        f = self.fraction()
        elapsed = self._clock() - self._t0
        if f <= 0.02 or elapsed <= 0:
            return None
        return elapsed * (1.0 - f) / f

    # -- Progress ------------------------------------------------------------------------------

    def stage(self, name: str, total: int | None = None) -> None:
        with self._lock:
            self._stage(name, total)

    def _stage(self, name: str, total: int | None) -> None:
        if self._finished:
            return
        index = next((i for i, s in enumerate(self._stages) if s.name == name), None)
        if index is None:  # an unplanned stage: shown, with a small weight
            self._stages.insert(self._index + 1, Stage(name, name, 0.01))
            index = self._index + 1
        self._index = max(self._index, index)
        self._total = total if total and total > 0 else None
        self._done = 0
        self._stage_t0 = self._clock()
        self._emit(force=True)

    def advance(self, steps: int = 1) -> None:
        with self._lock:
            if self._finished or self._index < 0:
                return
            self._done += steps
            self._emit(force=False)

    def note(self, message: str) -> None:
        with self._lock:
            self._note(message)

    def _note(self, message: str) -> None:
        if self._tty:
            self._write("\r\x1b[2K" + message + "\n")
            if self._index >= 0:
                self._emit(force=True)
        else:
            self._write(f"progress task={_quote(self._task)} note={_quote(message)}\n")

    def finish(self) -> None:
        self._stop.set()
        with self._lock:
            self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        elapsed = format_duration(self._clock() - self._t0)
        if self._tty:
            self._write(f"\r\x1b[2K{self._task}: done in {elapsed}\n")
        else:
            self._write(
                f"progress task={_quote(self._task)} stage=done percent=100 "
                f"elapsed_s={self._clock() - self._t0:.0f}\n"
            )

    # -- drawing -----------------------------------------------------------------------------

    def _beat(self) -> None:
        interval = 1.0 if self._tty else self._log_s
        while not self._stop.wait(interval):
            with self._lock:
                if self._finished:
                    return
                if self._index >= 0:
                    self._emit(force=False)

    def _emit(self, *, force: bool) -> None:
        now = self._clock()
        interval = self._redraw_s if self._tty else self._log_s
        if not force and now - self._last_emit < interval:
            return
        self._last_emit = now
        self._write(self.render_bar() if self._tty else self.render_line())

    def _counts(self) -> str:
        return f" {self._done}/{self._total}" if self._total else ""

    def render_bar(self) -> str:
        """The terminal form (carriage return, no newline)."""
        f = self.fraction()
        filled = round(f * self.BAR_WIDTH)
        stage = self._stages[self._index]
        eta = self.eta_s()
        left = f"  ({format_duration(eta)} left)" if eta is not None else ""
        return (
            f"\r\x1b[2K{self._task} [{'#' * filled}{'.' * (self.BAR_WIDTH - filled)}] "
            f"{f * 100:3.0f}%  {self._index + 1}/{len(self._stages)} "
            f"{stage.label}{self._counts()}{left}"
        )

    def render_line(self) -> str:
        """The log form: one logfmt line."""
        stage = self._stages[self._index]
        elapsed = self._clock() - self._t0
        eta = self.eta_s()
        parts = [
            f"progress task={_quote(self._task)}",
            f"stage={stage.name}",
            f"step={self._index + 1}/{len(self._stages)}",
        ]
        if self._total:
            parts.append(f"done={self._done}/{self._total}")
        parts.append(f"percent={self.fraction() * 100:.0f}")
        parts.append(f"elapsed_s={elapsed:.0f}")
        if eta is not None:
            parts.append(f"eta_s={eta:.0f}")
        return " ".join(parts) + "\n"

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed pipe must not break the work
            pass


def _quote(value: str) -> str:
    if value and all(c.isalnum() or c in "-_./:" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
