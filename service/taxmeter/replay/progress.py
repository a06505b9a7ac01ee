"""Progress output for a replay: a bar with rate and ETA on a terminal, plain lines otherwise
(every ``line_interval_s`` seconds and at the end), nothing with ``mode="none"``."""

from __future__ import annotations

import sys
import time
from typing import Literal, TextIO

Mode = Literal["auto", "bar", "lines", "none"]


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    def __init__(
        self,
        total: int,
        already: int,
        *,
        mode: Mode = "auto",
        stream: TextIO | None = None,
        line_interval_s: float = 10.0,
        bar_interval_s: float = 0.2,
    ) -> None:
        self._stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if self._stream.isatty() else "lines"
        self._mode = mode
        self.total = total
        self.done = already
        self._already = already
        self._start = time.monotonic()
        self._last = 0.0
        self._interval = bar_interval_s if mode == "bar" else line_interval_s

    def text(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        fresh = self.done - self._already
        rate = fresh / elapsed
        remaining = self.total - self.done
        eta = remaining / rate if rate > 0 else None
        share = self.done / self.total if self.total else 1.0
        if self._mode == "bar":
            width = 30
            filled = int(share * width)
            bar = "#" * filled + "." * (width - filled)
            return f"\r[{bar}] {self.done}/{self.total} {share:5.1%} {rate:6.1f}/s ETA {_eta(eta)} "
        return (
            f"replay: {self.done}/{self.total} prompts ({share:.1%}), {rate:.1f}/s, ETA {_eta(eta)}"
        )

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self._mode == "none" or now - self._last < self._interval:
            return
        self._last = now
        self._write()

    def _write(self) -> None:
        end = "" if self._mode == "bar" else "\n"
        self._stream.write(self.text() + end)
        self._stream.flush()

    def close(self) -> None:
        if self._mode == "none":
            return
        self._write()
        if self._mode == "bar":
            self._stream.write("\n")
            self._stream.flush()
