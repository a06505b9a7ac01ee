"""The values an app passes to and reads from the mirror client, and the encoding of one
mirror as a serialized ``taxmeter.v1.MirrorRequest`` (done in the app's thread, by ``mirror``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from taxmeter.proto.taxmeter.v1 import mirror_pb2

_ARMS = {"guarded": mirror_pb2.ARM_GUARDED, "unguarded": mirror_pb2.ARM_UNGUARDED}


class ClientStats(NamedTuple):
    """Counts since the client was created."""

    sent: int
    """Mirrors the sidecar received (it acknowledged the batch that carried them)."""
    dropped_buffer_full: int
    """Mirrors dropped at once because the buffer was full (sidecar slow or down)."""
    dropped_send_error: int
    """Mirrors lost because their batch could not be sent (sidecar down, timeout, closing)."""
    dropped_invalid: int
    """Mirrors that could not be serialized (a body that is not JSON-serializable)."""
    rejected: int
    """Sent mirrors the sidecar refused as invalid (counted there too)."""
    buffered: int
    """Mirrors waiting in the buffer now."""


@dataclass(frozen=True, slots=True)
class ProductionInfo:
    """The answer production got, to let taxmeter reuse it instead of calling that arm."""

    text: str
    arm: str = "guarded"
    latency_s: float = 0.0
    ttft_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""


def encode_mirror(
    body: Mapping[str, Any] | bytes,
    route: str,
    category: str | None,
    request_id: str | None,
    production: ProductionInfo | None,
    force_sample: bool,
) -> bytes:
    """One mirror as protobuf bytes; raises on anything it cannot serialize (counted by
    the caller as ``dropped_invalid``)."""
    raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    msg = mirror_pb2.MirrorRequest(
        request_id=(request_id or "").encode(),
        route=route.encode(),
        category=(category or "").encode(),
        body=raw,
        force_sample=force_sample,
    )
    if production is not None:
        msg.production.CopyFrom(
            mirror_pb2.ProductionAnswer(
                text=production.text.encode(),
                arm=_ARMS[production.arm],
                latency_s=production.latency_s,
                ttft_s=production.ttft_s,
                prompt_tokens=production.prompt_tokens,
                completion_tokens=production.completion_tokens,
                finish_reason=production.finish_reason.encode(),
            )
        )
    data: bytes = msg.SerializeToString()
    return data
