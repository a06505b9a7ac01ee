"""The codec between the wire (protobuf bytes, HTTP bodies) and :class:`MirrorRequest`.

The only module that imports the generated stubs. It decodes protobuf itself (the gRPC server
hands it raw bytes), so that malformed input, invalid UTF-8 and bad bodies all become an
:class:`InvalidRequestError` naming the field, which the edge counts and maps to
``INVALID_ARGUMENT`` / HTTP 400, instead of an uncounted transport error.

A decode never raises for bad input: it returns a :class:`Rejection` carrying the error and the
route label to count it under (``unknown`` when the route itself could not be read).
The field checks are in ``ingress/fields.py``, the route and category labels in
``ingress/labels.py`` (both re-exported here where the codec's callers used them).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import DecodeError

from taxmeter.errors import InvalidRequestError, RequestTooLargeError
from taxmeter.ingress.config import IngressConfig
from taxmeter.ingress.fields import parse_body, text_field
from taxmeter.ingress.labels import MAX_LABEL_BYTES, OTHER, UNKNOWN, RouteNormalizer
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

__all__ = [
    "MAX_LABEL_BYTES",
    "OTHER",
    "UNKNOWN",
    "Decoded",
    "MirrorCodec",
    "Rejection",
    "RouteNormalizer",
]

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
            route_name = text_field(msg.route, "route", MAX_LABEL_BYTES)
        except InvalidRequestError as exc:
            return Rejection(UNKNOWN, exc)
        route = self._route(route_name)
        try:
            request_id = self._request_id(msg.request_id)
            category = self._normalizer.category(
                text_field(msg.category, "category", MAX_LABEL_BYTES)
            )
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
            return self._route(text_field(msg.route, "route", MAX_LABEL_BYTES))
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
        return parse_body(raw, self._config)

    def _route(self, name: str | None) -> RouteLabel:
        return self._normalizer.route(name) or self._config.default_route

    def _request_id(self, raw: bytes) -> str:
        if not raw:
            return uuid.uuid4().hex
        if len(raw) > self._config.max_request_id_bytes:
            raise RequestTooLargeError(
                "request_id", f"longer than {self._config.max_request_id_bytes} bytes"
            )
        text = text_field(raw, "request_id", self._config.max_request_id_bytes)
        if not text.isprintable():
            raise InvalidRequestError("request_id", "contains control characters")
        return text


def _production(msg: mirror_pb2.ProductionAnswer, max_text_bytes: int) -> ProductionAnswer:
    # Bounded like the body, so a whole MirrorRequest always fits the gRPC receive limit
    # (2 × max_body_bytes + 64 KiB) and an oversized one is a counted INVALID_ARGUMENT.
    text = text_field(msg.text, "production.text", max_text_bytes)
    finish = text_field(msg.finish_reason, "production.finish_reason", 64) or None
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
