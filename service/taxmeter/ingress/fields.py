"""The field checks of a mirrored request: the chat-completions body (JSON object, messages,
model, stream) and bounded UTF-8 text fields. Each failure is an ``InvalidRequestError`` (or
``RequestTooLargeError``) naming the field, which the edge counts and answers as
``INVALID_ARGUMENT`` / HTTP 400. Unknown body fields are kept untouched.
"""

from __future__ import annotations

import json
from typing import Any, Final

from taxmeter.errors import InvalidRequestError, RequestTooLargeError
from taxmeter.ingress.config import IngressConfig
from taxmeter.types import JSONObject


def parse_body(raw: bytes, cfg: IngressConfig) -> JSONObject:
    """Parses and checks a chat-completions body; unknown fields are kept untouched."""
    if not raw:
        raise InvalidRequestError("body", "empty; expected a chat-completions JSON object")
    if len(raw) > cfg.max_body_bytes:
        raise RequestTooLargeError(
            "body", f"{len(raw)} bytes, over the limit of {cfg.max_body_bytes}"
        )
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidRequestError("body", f"not valid UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            "body", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidRequestError("body", "JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal over Python's digit limit
        raise InvalidRequestError("body", f"not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("body", f"must be a JSON object, got {_kind(body)}")
    _check_messages(body.get("messages", _MISSING), cfg.max_messages)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidRequestError("body.model", f"must be a string, got {_kind(model)}")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequestError("body.stream", f"must be a boolean, got {_kind(stream)}")
    return body


_MISSING: Final = object()


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def text_field(raw: bytes, field: str, max_bytes: int) -> str:
    if len(raw) > max_bytes:
        raise RequestTooLargeError(field, f"longer than {max_bytes} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(field, f"not valid UTF-8 (byte {exc.start})") from None


def _check_messages(messages: Any, max_messages: int) -> None:  # noqa: C901 - one flat check per rule, each raising its own field-named error
    if messages is _MISSING:
        raise InvalidRequestError("body.messages", "required")
    if not isinstance(messages, list):
        raise InvalidRequestError("body.messages", f"must be an array, got {_kind(messages)}")
    if not messages:
        raise InvalidRequestError("body.messages", "must not be empty")
    if len(messages) > max_messages:
        raise RequestTooLargeError(
            "body.messages", f"{len(messages)} messages, over the limit of {max_messages}"
        )
    for i, message in enumerate(messages):
        where = f"body.messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequestError(where, f"must be an object, got {_kind(message)}")
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise InvalidRequestError(f"{where}.role", f"must be a string, got {_kind(role)}")
        content = message.get("content")
        if isinstance(content, str):
            continue
        if content is None:
            # An assistant turn that only calls tools has no content.
            if role == "assistant":
                continue
            raise InvalidRequestError(
                f"{where}.content",
                "required unless the role is 'assistant' (string or array of parts)",
            )
        if not isinstance(content, list):
            raise InvalidRequestError(
                f"{where}.content",
                f"must be a string, null or an array of content parts, got {_kind(content)}",
            )
        for j, part in enumerate(content):
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise InvalidRequestError(
                    f"{where}.content[{j}]", "must be a content part object with a string 'type'"
                )
