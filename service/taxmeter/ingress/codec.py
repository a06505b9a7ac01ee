"""The codec between the wire (protobuf bytes, HTTP bodies) and :class:`MirrorRequest`.

The only module that imports the generated stubs. It decodes protobuf itself (the gRPC server
hands it raw bytes), so that malformed input, invalid UTF-8 and bad bodies all become an
:class:`InvalidRequestError` naming the field, which the edge counts and maps to
``INVALID_ARGUMENT`` / HTTP 400, instead of an uncounted transport error.

A decode never raises for bad input: it returns a :class:`Rejection` carrying the error and the
route label to count it under (``unknown`` when the route itself could not be read).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from google.protobuf.message import DecodeError
from prometheus_client import Counter
from prometheus_client.registry import CollectorRegistry

from taxmeter.errors import InvalidRequestError, RequestTooLargeError
from taxmeter.ingress.config import IngressConfig
from taxmeter.proto.taxmeter.v1 import mirror_pb2
from taxmeter.types import (
    Admission,
    Arm,
    JSONObject,
    MirrorOutcome,
    MirrorRequest,
    ProductionAnswer,
    RouteLabel,
    Transport,
)

OTHER: Final = "other"
UNKNOWN: Final = "unknown"
MAX_LABEL_BYTES: Final = 128

_ARMS: Final[Mapping[int, Arm]] = {
    mirror_pb2.ARM_GUARDED: Arm.GUARDED,
    mirror_pb2.ARM_UNGUARDED: Arm.UNGUARDED,
}
_DECISIONS: Final[Mapping[MirrorOutcome, mirror_pb2.MirrorAck.Decision]] = {
    MirrorOutcome.SAMPLED: mirror_pb2.MirrorAck.SAMPLED,
    MirrorOutcome.NOT_SAMPLED: mirror_pb2.MirrorAck.NOT_SAMPLED,
    MirrorOutcome.DROPPED_QUEUE_FULL: mirror_pb2.MirrorAck.DROPPED_QUEUE_FULL,
    MirrorOutcome.DROPPED_BUDGET: mirror_pb2.MirrorAck.DROPPED_BUDGET,
}
_TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})


class RouteNormalizer:
    """Maps a sender's route and category names to bounded label values.

    An allowlisted name is kept; anything else becomes ``other``. An absent route is ``None``
    here (the codec uses the configured ``default_route``, always a valid label); an absent
    category stays ``None``. ``unknown`` is only used by the edge for requests rejected before
    their route could be read.
    """

    def __init__(
        self,
        routes: frozenset[str],
        categories: frozenset[str] = frozenset(),
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._routes = frozenset(routes)
        self._categories = frozenset(categories)
        self._folded = (
            Counter(
                "taxmeter_label_values_folded",
                "Requests whose route or category name was not in the allowlist and is "
                "exported as `other` (the series budget holds whatever senders send).",
                ["label"],
                registry=registry,
            )
            if registry is not None
            else None
        )
        if self._folded is not None:
            for label in ("route", "category"):
                self._folded.labels(label)

    def route(self, name: str | None) -> RouteLabel | None:
        if not name:
            return None
        if name in self._routes:
            return name
        if self._folded is not None:
            self._folded.labels("route").inc()
        return OTHER

    def category(self, name: str | None) -> RouteLabel | None:
        if not name:
            return None
        if name in self._categories:
            return name
        if self._folded is not None:
            self._folded.labels("category").inc()
        return OTHER


@dataclass(frozen=True, slots=True)
class Rejection:
    """A request the codec refused, with the route label to count it under."""

    route: RouteLabel
    error: InvalidRequestError


Decoded = MirrorRequest | Rejection
"""What a decode returns: a valid request, or why not."""


class MirrorCodec:
    """Decodes mirrored requests from either transport and encodes the acks."""

    def __init__(self, config: IngressConfig, normalizer: RouteNormalizer) -> None:
        self._config = config
        self._normalizer = normalizer
        self._strip = frozenset(config.strip_headers)

    # -- gRPC ------------------------------------------------------------------------------

    def decode_grpc(self, raw: bytes) -> Decoded:
        """A serialized ``taxmeter.v1.MirrorRequest`` → request or rejection."""
        msg = mirror_pb2.MirrorRequest()
        try:
            msg.ParseFromString(raw)
        except DecodeError as exc:
            return Rejection(UNKNOWN, InvalidRequestError("request", f"not a MirrorRequest: {exc}"))
        try:
            route_name = _text(msg.route, "route", MAX_LABEL_BYTES)
        except InvalidRequestError as exc:
            return Rejection(UNKNOWN, exc)
        route = self._route(route_name)
        try:
            request_id = self._request_id(msg.request_id)
            category = self._normalizer.category(_text(msg.category, "category", MAX_LABEL_BYTES))
            production = (
                _production(msg.production, self._config.max_body_bytes)
                if msg.HasField("production")
                else None
            )
            body = self.validate_body(msg.body)
        except InvalidRequestError as exc:
            return Rejection(route, exc)
        return MirrorRequest(
            request_id=request_id,
            route=route,
            category=category,
            body=body,
            raw_body=msg.body,
            production=production,
            force_sample=msg.force_sample,
            transport=Transport.GRPC,
        )

    def decode_route_only(self, raw: bytes) -> RouteLabel:
        """The route label of a serialized request, or ``unknown`` (for counting a refusal)."""
        msg = mirror_pb2.MirrorRequest()
        try:
            msg.ParseFromString(raw)
            return self._route(_text(msg.route, "route", MAX_LABEL_BYTES))
        except (DecodeError, InvalidRequestError):
            return UNKNOWN

    @staticmethod
    def encode_ack(admission: Admission) -> bytes:
        data: bytes = mirror_pb2.MirrorAck(
            request_id=admission.request_id,
            sampled=admission.sampled,
            decision=_DECISIONS.get(admission.outcome, mirror_pb2.MirrorAck.DECISION_UNSPECIFIED),
            reason=admission.reason,
        ).SerializeToString()
        return data

    @staticmethod
    def encode_summary(
        *,
        received: int,
        sampled: int,
        not_sampled: int,
        dropped: int,
        rejected: int,
        errors: list[str],
    ) -> bytes:
        data: bytes = mirror_pb2.MirrorStreamSummary(
            received=received,
            sampled=sampled,
            not_sampled=not_sampled,
            dropped=dropped,
            rejected=rejected,
            errors=errors,
        ).SerializeToString()
        return data

    # -- HTTP ------------------------------------------------------------------------------

    def safe_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Lower-cased headers without the credential headers (never kept, never forwarded)."""
        return {k.lower(): v for k, v in headers.items() if k.lower() not in self._strip}

    def route_from_path(self, path: str) -> str | None:
        prefix = self._config.http_route_path_prefix
        if not prefix or not path.startswith(prefix):
            return None
        name = path[len(prefix) :].split("/", 1)[0]
        return name or None

    def http_route(self, headers: Mapping[str, str], path: str) -> RouteLabel:
        """The route label from the path, else the route header (lower-case keys), else the
        default; ``unknown`` when the name is too long to be a route."""
        name = self.route_from_path(path) or headers.get(self._config.http_route_header)
        if name is not None and len(name.encode("utf-8", "replace")) > MAX_LABEL_BYTES:
            return UNKNOWN
        return self._route(name)

    def decode_http(self, body: bytes, headers: Mapping[str, str], path: str) -> Decoded:
        """An HTTP mirror (OpenAI chat-completions body) → request or rejection.

        The route comes from the path (``/mirror/{route}/...``), else from the route header,
        else the default route. Credential headers are dropped before anything is read.
        """
        cfg = self._config
        safe = self.safe_headers(headers)
        route = self.http_route(safe, path)
        if route == UNKNOWN:
            return Rejection(
                UNKNOWN, RequestTooLargeError("route", f"longer than {MAX_LABEL_BYTES} bytes")
            )
        try:
            request_id = self._request_id(
                safe.get(cfg.http_request_id_header, "").encode("utf-8", "surrogateescape")
            )
            category = self._normalizer.category(safe.get(cfg.http_category_header) or None)
            body_obj = self.validate_body(body)
        except (InvalidRequestError, UnicodeEncodeError) as exc:
            err = (
                exc
                if isinstance(exc, InvalidRequestError)
                else InvalidRequestError("request_id", "not valid UTF-8")
            )
            return Rejection(route, err)
        force = safe.get(cfg.http_force_sample_header, "").strip().lower() in _TRUE_WORDS
        return MirrorRequest(
            request_id=request_id,
            route=route,
            category=category,
            body=body_obj,
            raw_body=body,
            production=None,
            force_sample=force,
            transport=Transport.HTTP,
        )

    # -- shared ----------------------------------------------------------------------------

    def validate_body(self, raw: bytes) -> JSONObject:
        """Parses and checks a chat-completions body; unknown fields are kept untouched."""
        cfg = self._config
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

    def _route(self, name: str | None) -> RouteLabel:
        return self._normalizer.route(name) or self._config.default_route

    def _request_id(self, raw: bytes) -> str:
        if not raw:
            return uuid.uuid4().hex
        if len(raw) > self._config.max_request_id_bytes:
            raise RequestTooLargeError(
                "request_id", f"longer than {self._config.max_request_id_bytes} bytes"
            )
        text = _text(raw, "request_id", self._config.max_request_id_bytes)
        if not text.isprintable():
            raise InvalidRequestError("request_id", "contains control characters")
        return text


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


def _text(raw: bytes, field: str, max_bytes: int) -> str:
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


def _production(msg: mirror_pb2.ProductionAnswer, max_text_bytes: int) -> ProductionAnswer:
    # Bounded like the body, so a whole MirrorRequest always fits the gRPC receive limit
    # (2 × max_body_bytes + 64 KiB) and an oversized one is a counted INVALID_ARGUMENT.
    text = _text(msg.text, "production.text", max_text_bytes)
    finish = _text(msg.finish_reason, "production.finish_reason", 64) or None
    arm = _ARMS.get(msg.arm)
    if arm is None:
        raise InvalidRequestError("production.arm", "must be ARM_GUARDED or ARM_UNGUARDED")
    for name in ("latency_s", "ttft_s"):
        value = getattr(msg, name)
        if not math.isfinite(value) or value < 0:
            raise InvalidRequestError(f"production.{name}", "must be a finite number >= 0")
    return ProductionAnswer(
        text=text,
        arm=arm,
        latency_s=msg.latency_s or None,
        ttft_s=msg.ttft_s or None,
        prompt_tokens=msg.prompt_tokens or None,
        completion_tokens=msg.completion_tokens or None,
        finish_reason=finish,
    )
