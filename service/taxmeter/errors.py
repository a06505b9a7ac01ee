"""taxmeter's one error tree.

Edges (gRPC servicer, HTTP sink, CLI) map these to status codes; nothing below the edge knows
about gRPC or HTTP codes.

    TaxmeterError
    ├── ConfigError            bad configuration; names the field (startup stops)
    ├── InvalidRequestError    a mirrored request we cannot use; names the field
    │   └── RequestTooLargeError
    ├── EndpointError          a model endpoint call failed (carries an outcome reason)
    ├── JudgeError             judge engine failures
    │   ├── JudgeLoadError     a judge could not be loaded; names the judge and the problem
    │   ├── JudgeNotReadyError judges still warming up, or the remote backend is down
    │   └── JudgeInferenceError  one batch failed; only its items see it
    └── ShedError              work deliberately not done, with a counted reason
"""

from __future__ import annotations


class TaxmeterError(Exception):
    """Base of every error taxmeter raises on purpose."""


class ConfigError(TaxmeterError):
    """The configuration is invalid. ``field`` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class InvalidRequestError(TaxmeterError):
    """A mirrored request is unusable. ``field`` names what is wrong (e.g. ``body.messages``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class RequestTooLargeError(InvalidRequestError):
    """A body, message list or field is over its configured bound."""


class EndpointError(TaxmeterError):
    """A model endpoint call did not produce an answer. ``reason`` is a bounded label value."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {message}")


class JudgeError(TaxmeterError):
    """Judge engine failures."""


class JudgeLoadError(JudgeError):
    """A judge could not be loaded (manifest, model file, tokenizer, tensor mismatch)."""

    def __init__(self, judge: str, message: str) -> None:
        self.judge = judge
        super().__init__(f"judge {judge!r}: {message}")


class JudgeNotReadyError(JudgeError):
    """Judges are warming up or their backend is unavailable; callers shed and count."""

    def __init__(self, reason: str, message: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {message}" if message else reason)


class JudgeInferenceError(JudgeError):
    """One inference batch failed; raised to the items of that batch only."""


class ShedError(TaxmeterError):
    """Work deliberately not done. ``reason`` is a bounded label value."""

    def __init__(self, reason: str, message: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {message}" if message else reason)
