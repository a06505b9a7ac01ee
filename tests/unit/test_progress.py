"""Progress output: stages, ETA, the terminal bar and the log lines (fake clock, string stream)."""

from __future__ import annotations

import io

import pytest
from taxmeter.progress import Stage, StageProgress, format_duration

STAGES = [
    Stage("load", "loading", 1.0),
    Stage("embed", "embedding", 8.0),
    Stage("write", "writing", 1.0),
]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_log_lines_name_stage_step_counts_and_eta() -> None:
    clock, out = Clock(), io.StringIO()
    p = StageProgress(
        "judges build",
        STAGES,
        stream=out,
        tty=False,
        clock=clock,
        log_interval_s=10.0,
        heartbeat=False,
    )
    p.stage("load")
    clock.now += 2.0
    p.stage("embed", total=100)
    clock.now += 3.0
    p.advance(50)  # within log_interval_s of the stage line: not logged
    clock.now += 8.0
    p.advance(0)
    p.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == 'progress task="judges build" stage=load step=1/3 percent=0 elapsed_s=0'
    assert lines[1] == (
        'progress task="judges build" stage=embed step=2/3 done=0/100 '
        "percent=10 elapsed_s=2 eta_s=18"
    )
    # 1 + 8 * 0.5 = 5 of 10 weight units in 13 s: 13 s left.
    assert lines[2] == (
        'progress task="judges build" stage=embed step=2/3 done=50/100 '
        "percent=50 elapsed_s=13 eta_s=13"
    )
    assert lines[3] == 'progress task="judges build" stage=done percent=100 elapsed_s=13'
    assert len(lines) == 4


def test_terminal_bar_redraws_in_place_with_eta_and_ends_with_a_newline() -> None:
    clock, out = Clock(), io.StringIO()
    p = StageProgress("build", STAGES, stream=out, tty=True, clock=clock, heartbeat=False)
    p.stage("embed", total=10)
    clock.now += 9.0
    p.advance(5)
    p.note("waiting for another build")
    p.finish()
    text = out.getvalue()
    assert "\n" not in text.split("waiting")[0]  # bars redraw with \r, no newline
    assert "build [############............]  50%  2/3 embedding 5/10  (0:09 left)" in text
    assert "\r\x1b[2Kwaiting for another build\n" in text
    assert text.endswith("\r\x1b[2Kbuild: done in 0:09\n")


def test_unplanned_stage_is_shown_and_rejects_bad_plans() -> None:
    out = io.StringIO()
    p = StageProgress("t", STAGES, stream=out, tty=False, clock=Clock(), heartbeat=False)
    p.stage("load")
    p.stage("surprise")
    assert "stage=surprise step=2/4" in out.getvalue()
    with pytest.raises(ValueError):
        StageProgress("t", [], stream=out)
    with pytest.raises(ValueError):
        StageProgress("t", [Stage("a", "a", 0.0)], stream=out)


def test_a_closed_stream_does_not_break_the_work() -> None:
    out = io.StringIO()
    p = StageProgress("t", STAGES, stream=out, tty=False, clock=Clock(), heartbeat=False)
    out.close()
    p.stage("load")
    p.advance()
    p.finish()


@pytest.mark.parametrize(
    ("seconds", "text"), [(7, "0:07"), (754, "12:34"), (3723, "1:02:03"), (-1, "0:00")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_stage_without_counts_moves_at_the_pace_so_far_and_stops_short_of_done() -> None:
    clock, out = Clock(), io.StringIO()
    p = StageProgress(
        "t",
        [Stage("a", "a", 1.0), Stage("b", "b", 2.0), Stage("c", "c", 1.0)],
        stream=out,
        tty=False,
        clock=clock,
        heartbeat=False,
    )
    p.stage("a")
    clock.now += 10.0
    p.stage("b")  # a took 10 s for 1 unit: b (2 units) is expected to take 20 s
    clock.now += 10.0
    assert p.fraction() == 0.5  # (1 + 2 * 0.5) / 4
    clock.now += 100.0
    assert p.fraction() == (1 + 2 * 0.95) / 4


def test_the_heartbeat_logs_a_long_stage_without_steps() -> None:
    import threading

    class Stream(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.lines = threading.Semaphore(0)

        def write(self, text: str) -> int:
            n = super().write(text)
            self.lines.release()
            return n

    out = Stream()
    p = StageProgress("t", STAGES, stream=out, tty=False, log_interval_s=0.01)
    p.stage("load")
    for _ in range(3):  # the stage line, then heartbeats with no call from the work
        assert out.lines.acquire(timeout=60)
    p.finish()
    lines = out.getvalue().splitlines()
    assert sum("stage=load" in ln for ln in lines) >= 3, lines
