"""Property-based fuzzing of the pure parsers of outside input: the Mirror codec (gRPC
messages with random and extreme field values, unknown fields, invalid UTF-8, deep nesting,
huge bodies; HTTP bodies, headers and paths) and the configuration (documents and
``TAXMETER__*`` overrides). Each input is accepted with the documented invariants or refused
with a clear, field-naming error; nothing else escapes. Fixed seed: tests/fuzz_fixtures.py."""

from __future__ import annotations

import math
from typing import Any

import fuzz_fixtures  # noqa: F401 (loads the Hypothesis profile)
from fuzz_fixtures import body_bytes, json_values, mirror_messages
from hypothesis import given
from hypothesis import strategies as st
from taxmeter.config import config_from_dict
from taxmeter.errors import ConfigError, InvalidRequestError
from taxmeter.ingress import IngressConfig, MirrorCodec, Rejection, RouteNormalizer
from taxmeter.types import MirrorRequest

CFG = IngressConfig(max_body_bytes=64 * 1024, max_messages=16)
CODEC = MirrorCodec(CFG, RouteNormalizer(frozenset({"chat"}), frozenset({"coding"})))
LABELS = {"chat", "other", "unknown", CFG.default_route}


def _check(decoded: object) -> None:
    if isinstance(decoded, Rejection):
        assert isinstance(decoded.error, InvalidRequestError)
        assert decoded.error.field and str(decoded.error)
        assert decoded.route in LABELS
        return
    assert isinstance(decoded, MirrorRequest)
    assert decoded.route in LABELS
    assert decoded.category in (None, "coding", "other")
    assert isinstance(decoded.body, dict)
    msgs = decoded.body["messages"]
    assert isinstance(msgs, list) and 0 < len(msgs) <= CFG.max_messages
    assert len(decoded.raw_body) <= CFG.max_body_bytes
    assert decoded.request_id and decoded.request_id.isprintable()
    if decoded.production is not None:
        # 0 on the wire means "not measured" and decodes to None; a value is finite and > 0
        for seconds in (decoded.production.latency_s, decoded.production.ttft_s):
            assert seconds is None or (math.isfinite(seconds) and seconds > 0)


@given(mirror_messages())
def test_any_mirror_message_is_accepted_with_its_invariants_or_refused_naming_a_field(
    raw: bytes,
) -> None:
    _check(CODEC.decode_grpc(raw))
    assert CODEC.decode_route_only(raw) in LABELS


@given(st.binary(max_size=400))
def test_random_bytes_as_a_mirror_message_never_escape_the_codec(raw: bytes) -> None:
    _check(CODEC.decode_grpc(raw))


header_names = st.sampled_from(
    [
        "x-taxmeter-route",
        "x-taxmeter-category",
        "x-request-id",
        "x-taxmeter-force-sample",
        "authorization",
        "content-type",
        "x-other",
    ]
)


@given(
    body_bytes(),
    st.dictionaries(header_names, st.text(max_size=300), max_size=6),
    st.sampled_from(["/v1/chat/completions", "/mirror/chat/v1/chat/completions"])
    | st.text(max_size=300).map(lambda t: f"/mirror/{t}/v1/chat/completions"),
)
def test_any_http_mirror_is_accepted_or_refused_naming_a_field(
    body: bytes, headers: dict[str, str], path: str
) -> None:
    decoded = CODEC.decode_http(body, headers, path)
    _check(decoded)
    if isinstance(decoded, MirrorRequest):
        assert decoded.raw_body == body


# -- configuration ------------------------------------------------------------------------

SECTIONS = [
    "routes",
    "categories",
    "ingress",
    "sampling",
    "shadow",
    "judges",
    "tax",
    "telemetry",
    "demo",
    "unknown_section",
]
BASE: dict[str, Any] = {
    "shadow": {
        "guarded": {"base_url": "http://g:1/v1"},
        "unguarded": {"base_url": "http://u:1/v1"},
    },
    "judges": {"repository": "/nonexistent"},
}
env_keys = st.lists(
    st.sampled_from(
        [
            "SAMPLING",
            "RATE",
            "INGRESS",
            "GRPC_PORT",
            "HOST",
            "TLS",
            "CERT_FILE",
            "SHADOW",
            "GUARDED",
            "BASE_URL",
            "TAX",
            "WINDOWS",
            "ROUTES",
            "TELEMETRY",
            "LOG_LEVEL",
            "X",
            "",
        ]
    ),
    min_size=0,
    max_size=4,
).map(lambda parts: "TAXMETER__" + "__".join(parts))
env_values = st.text(max_size=40) | st.sampled_from(
    [
        "[a, b",
        "{x: 1}",
        "-1",
        "1e999",
        ".nan",
        "null",
        "[chat, other]",
        "!!binary aGk=",
        "&a [*a]",
        "0x10",
        "true",
    ]
)


@given(
    st.dictionaries(st.sampled_from(SECTIONS), json_values, max_size=4),
    st.dictionaries(env_keys, env_values, max_size=4),
)
def test_any_config_document_and_overrides_load_or_fail_naming_a_field(
    doc: dict[str, Any], env: dict[str, str]
) -> None:
    merged = {**BASE, **doc}
    try:
        config = config_from_dict(merged, env)
    except ConfigError as exc:
        assert str(exc).strip()
        return
    assert 0.0 <= config.sampling.rate <= 1.0
    assert len(config.routes) <= 200
