"""structlog setup: JSON lines on stderr (or a console renderer for humans).

The one labelled place where global logging state is set; called once by the CLI.
Prompts and answers never reach a log event: no component passes them, and a processor drops
any event key that could carry them, as a second line of defence.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_CONTENT_KEYS = frozenset({"prompt", "response", "answer", "messages", "body", "content", "text"})


def _drop_content(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in _CONTENT_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


class _WithholdRequestData(logging.Filter):
    """aiohttp's server logger quotes the raw bytes of a request it cannot parse (``Data after
    `Connection: close```, a bad chunk...) in the exception it logs, and those bytes may be
    production text: keep the event and the exception's kind, drop the exception's text and
    traceback. Found by the HTTP sink fuzzing (docs/security.md)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({type(record.exc_info[1]).__name__}; request data withheld)"
        record.msg, record.args = text, ()
        record.exc_info, record.exc_text = None, None
        return True


_WITHHELD_LOGGERS = ("aiohttp.server", "aiohttp.web")


def configure_logging(level: str = "info", fmt: str = "json", *, log_prompts: bool = False) -> None:
    """Configure structlog (process-wide, at startup; a later call replaces the configuration
    for every logger)."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if not log_prompts:
        processors.append(_drop_content)
    processors.append(structlog.processors.format_exc_info)
    if fmt == "json":
        processors.append(structlog.processors.JSONRenderer())
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        # Not cached: a process may configure more than once (`check-config --probe` lowers
        # the level, the CLI runs in-process in tests), and a cached module-level logger would
        # keep the first configuration for good. Log calls are off the per-request hot path.
        cache_logger_on_first_use=False,
    )
    # grpc and aiohttp log through the standard library.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr)
    if not log_prompts:
        for name in _WITHHELD_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, _WithholdRequestData) for f in logger.filters):
                logger.addFilter(_WithholdRequestData())
