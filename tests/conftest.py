"""Suite-wide fixtures."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _logging_as_found() -> Iterator[None]:
    """Each test leaves logging as it found it. A CLI command run in-process (`replay`,
    `score`, `check-config`, `judges import`) configures structlog and the root logger
    process-wide, bound to the stream pytest captured for that test: later tests would log into
    a closed file, or below a level filter that hides their events from
    ``structlog.testing.capture_logs``."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    # Also before: a thread an earlier test left running may have configured after its reset.
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
