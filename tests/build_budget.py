"""Judge builds in tests: once per session (or module), under their own generous budget.

pytest's per-test timeout (120 s, pyproject) is for test bodies. A build of the default judges
takes about half a minute on an idle 2-core machine and several minutes on a loaded one (see
README), so it must not run under that timeout: fixtures that build call
:func:`within_build_budget`, and the modules using them mark their tests with
:func:`body_timeout` (``pytest.mark.timeout(..., func_only=True)``) so that the
per-test timeout starts after the fixtures are set up.

The budget (``TAXMETER_TEST_BUILD_BUDGET_S``, default 3600 s) exists so a build that hangs
still ends the run, with every thread's stack and the machine's load average: it is not a
performance assertion. Not a test module; import it as ``build_budget``.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

BUILD_BUDGET_S = float(os.environ.get("TAXMETER_TEST_BUILD_BUDGET_S", "3600"))


def body_timeout(seconds: float) -> pytest.MarkDecorator:
    """``seconds`` for each test body; fixture setup (the build) is not counted."""
    return pytest.mark.timeout(seconds, func_only=True)


def within_build_budget(what: str, build: Callable[[], T]) -> T:
    """Run ``build()``; if it exceeds ``BUILD_BUDGET_S``, print why, dump the stacks and end
    the process (a hung build must not hang CI forever)."""

    def expire() -> None:
        sys.stderr.write(
            f"\n{what}: still running after its budget of {BUILD_BUDGET_S:.0f} s "
            f"(load average {os.getloadavg()}, {os.cpu_count()} CPUs); stacks follow. "
            "Raise TAXMETER_TEST_BUILD_BUDGET_S on a very slow machine.\n"
        )
        faulthandler.dump_traceback(all_threads=True)
        os._exit(3)

    timer = threading.Timer(BUILD_BUDGET_S, expire)
    timer.daemon = True
    timer.start()
    try:
        return build()
    finally:
        timer.cancel()
